"""Dubbing with CosyVoice 2 or Fun-CosyVoice 3 (Apache-2.0) from a local model folder, on a GPU.

CosyVoice is not on PyPI: its runtime is the FunAudioLLM/CosyVoice repository (cloned with its
Matcha-TTS submodule, requirements installed on the GPU machine), named by `options.repo` or already
importable. Weights are never downloaded at run time: the model folder must be on disk (the registry,
assets/models/voices.yaml, says which files, where from, and under which licence).

CosyVoice 2/3 ship no built-in voices, so a character speaks either
- with its `reference_clip` (zero-shot cloning; the Voice carries the speaker's consent, checked again
  here against today's date): with the clip's transcript (`<clip>.txt` beside it) the clip is a
  zero-shot prompt, without one it only lends its timbre (cross-lingual mode); or
- as a speaker saved in the folder's spk2info.pt (`add_zero_shot_spk` + `save_spkinfo`), named by
  `voice.voice_id` or picked by `variant` from `options.speakers`.
The line's emotion is said as an instruction (`inference_instruct2`, the words of
`speech.EMOTION_INSTRUCTIONS`) when the voice comes from a clip; the speaking rate and emotion set the
speed in every mode. Sampling is seeded per line, so a re-run says a line the same way on the same card.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import random
import sys
import threading
import time
import wave
from datetime import date
from pathlib import Path

import numpy as np
from pydantic import Field

from microdrama.deps import require
from microdrama.domain import Strict
from microdrama.errors import InputError, MissingDependencyError, RenderError
from microdrama.skill import Skill, SkillContext
from microdrama.speech import EMOTION_INSTRUCTIONS, EMOTION_PROSODY, finish_line
from microdrama.stages import DubbedLine, DubbingInput
from microdrama.voice_registry import VoiceModel, VoiceRegistry

SKILL = "dubbing-cosyvoice"
NEUTRAL_RATE = 165  # words per minute a Voice calls "normal": CosyVoice speed 1.0
SPEED_RANGE = (0.5, 2.0)
MIN_CLIP_RATE = 16000  # CosyVoice's load_wav refuses prompts sampled below 16 kHz
V3_PREFIX = "You are a helpful assistant."  # CosyVoice 3 prompts start with a system line, then <|endofprompt|>
END_OF_PROMPT = "<|endofprompt|>"
INSTALL_HINT = ("CosyVoice is not on PyPI. On the GPU machine: git clone --recursive "
                "https://github.com/FunAudioLLM/CosyVoice && pip install -r CosyVoice/requirements.txt, then set "
                f"options: {SKILL}: {{repo: path/to/CosyVoice}} (or put the clone and its third_party/Matcha-TTS "
                "on PYTHONPATH)")


def expected_files(version: int) -> list[str]:
    """What CosyVoice{version}'s loader opens in the model folder."""
    return [f"cosyvoice{version}.yaml", "llm.pt", "flow.pt", "hift.pt", "campplus.onnx",
            f"speech_tokenizer_v{version}.onnx", "CosyVoice-BlankEN/"]


class CosyVoiceOptions(Strict):
    model: str = Field("fun-cosyvoice3-0.5b-2512", description="voice-registry id: fun-cosyvoice3-0.5b-2512 or "
                                                               "cosyvoice2-0.5b")
    model_dir: Path | None = Field(None, description="the model folder; empty = the registry's folder under "
                                                     "MICRODRAMA_MODELS_DIR (default ./models)")
    repo: Path | None = Field(None, description="a CosyVoice checkout (git clone --recursive) to import the runtime "
                                                "from; empty = `cosyvoice` is importable already")
    device: str = Field("cuda", pattern=r"^(cuda(:\d+)?|cpu)$", description="cuda, cuda:N or cpu (slow)")
    fp16: bool = Field(False, description="half precision on the GPU (faster, slightly different audio)")
    instruct: bool = Field(True, description="say the line's emotion as an instruction when the voice is a clip")
    speakers: dict[str, list[str]] = Field(default_factory=dict, description="speaker ids saved in the folder's "
                                           "spk2info.pt per gender, picked by a character's variant, e.g. "
                                           "{female: [lin_xia], male: [zhao]}")


def speed_for(rate: int, rate_factor: float) -> float:
    low, high = SPEED_RANGE
    return round(min(high, max(low, rate / NEUTRAL_RATE * rate_factor)), 4)


def line_seed(base: int, line_id: str) -> int:
    return (base * 1_000_003 + int(hashlib.sha256(line_id.encode()).hexdigest()[:8], 16)) % (2**31)


# ---- the runtime and the resident model (loading takes tens of seconds: once per process) -------------------

_resident: dict[tuple, object] = {}
_use: dict[int, threading.Lock] = {}
_lock = threading.Lock()


def _runtime_path(repo: Path | None) -> None:
    if repo is None:
        return
    for path in (repo / "third_party" / "Matcha-TTS", repo):  # the repository's own example adds both
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


def _importable(name: str) -> bool:
    if name in sys.modules:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def load_model(folder: Path, version: int, device: str, fp16: bool):
    """CosyVoice{version}(folder) on `device`, loaded once per process and configuration."""
    key = (str(folder.resolve()), version, device, fp16)
    with _lock:
        if key in _resident:
            return _resident[key]
        runtime = importlib.import_module("cosyvoice.cli.cosyvoice")
        cls = getattr(runtime, f"CosyVoice{version}", None)
        if cls is None:
            raise MissingDependencyError(f"this cosyvoice runtime has no CosyVoice{version}: update the clone "
                                         f"(git pull && git submodule update --init --recursive)")
        if device.startswith("cuda:"):  # CosyVoice places itself on the current CUDA device
            require("torch", extra="diffusion", purpose="CosyVoice").cuda.set_device(int(device.split(":")[1]))
        model = cls(str(folder), fp16=fp16)  # an existing folder: the loader never reaches for ModelScope
        _resident[key] = model
        _use[id(model)] = threading.Lock()
        return model


def _samples(chunks) -> np.ndarray:
    """The yielded `tts_speech` tensors (1, n) in [-1, 1], joined, as int16."""
    parts = []
    for chunk in chunks:
        speech = chunk["tts_speech"]
        if hasattr(speech, "detach"):
            speech = speech.detach().float().cpu().numpy()
        parts.append(np.asarray(speech, dtype=np.float32).reshape(-1))
    if not parts:
        return np.zeros(0, dtype=np.int16)
    return (np.clip(np.concatenate(parts), -1.0, 1.0) * 32767).astype(np.int16)


class CosyVoiceDubbing(Skill[DubbingInput, DubbedLine, CosyVoiceOptions]):
    name = SKILL
    stage = "dubbing"
    version = "1"
    backend = "CosyVoice (local weights, GPU)"
    description = ("Speaks one line with CosyVoice 2/3 from a local model folder: a cloned voice (with consent) or "
                   "a saved speaker, the emotion as an instruction.")
    Input = DubbingInput
    Output = DubbedLine
    Options = CosyVoiceOptions

    # ---- up front --------------------------------------------------------------------------------------

    def spec(self, options: CosyVoiceOptions) -> VoiceModel:
        spec = VoiceRegistry.load().get(options.model, skill=SKILL)
        if spec.version not in (2, 3):
            raise InputError(f"options.{SKILL}.model: '{spec.id}' has no CosyVoice version (2 or 3) in the registry")
        return spec

    def folder(self, options: CosyVoiceOptions, spec: VoiceModel) -> Path:
        folder = options.model_dir or spec.folder()
        files = expected_files(spec.version)
        missing = [f for f in files if not (folder / f.rstrip("/")).exists()]
        if missing:
            other = 5 - spec.version
            mismatch = (f" It holds cosyvoice{other}.yaml: set options.{SKILL}.model to the CosyVoice {other} entry."
                        if (folder / f"cosyvoice{other}.yaml").is_file() else "")
            raise InputError(
                f"model '{spec.id}' is not at {folder}: missing {', '.join(missing)} (CosyVoice{spec.version} loads "
                f"{', '.join(files)}).{mismatch} On a connected machine: `modelscope download --model "
                f"{spec.modelscope_id} --local_dir {folder.name}` (or `huggingface-cli download {spec.hub_id} "
                f"--local-dir {folder.name}`), copy the folder to this machine and set options.{SKILL}.model_dir "
                f"(or MICRODRAMA_MODELS_DIR). Licence: {spec.weights_licence}")
        return folder

    def clip(self, inputs: DubbingInput) -> Path | None:
        voice = inputs.voice
        if voice.reference_clip is None:
            return None
        consent = voice.consent
        if consent is None:  # the Voice model refuses this too; a clone is never made without it
            raise InputError(f"line {inputs.line_id}: a cloned voice needs the speaker's consent (voice.consent)")
        if consent.expires < date.today():
            raise InputError(f"line {inputs.line_id}: the consent of {consent.speaker} to clone their voice expired "
                             f"on {consent.expires}; renew it before using {voice.reference_clip}")
        clip = Path(voice.reference_clip)
        if not clip.is_file():
            raise InputError(f"line {inputs.line_id}: voice.reference_clip {clip} does not exist")
        if clip.suffix.lower() == ".wav":
            try:
                with wave.open(str(clip), "rb") as w:
                    rate = w.getframerate()
            except (wave.Error, EOFError):
                rate = None  # not PCM (float WAV…): CosyVoice's own reader decides
            if rate is not None and rate < MIN_CLIP_RATE:
                raise InputError(f"line {inputs.line_id}: {clip} is sampled at {rate} Hz; CosyVoice needs a reference "
                                 f"clip of at least {MIN_CLIP_RATE} Hz (3-10 s of clean speech)")
        return clip

    def speaker(self, inputs: DubbingInput, options: CosyVoiceOptions) -> str:
        voice = inputs.voice
        if voice.voice_id:
            return voice.voice_id
        names = options.speakers.get(voice.gender)
        if not names:
            raise InputError(f"line {inputs.line_id}: CosyVoice 2/3 have no built-in voices. Give the character a "
                             "reference_clip (with consent) to clone, a voice_id saved in the model folder's "
                             f"spk2info.pt, or list saved speakers in options.{SKILL}.speakers.{voice.gender}")
        return names[(voice.variant - 1) % len(names)]

    def check_inputs(self, inputs: DubbingInput, options: CosyVoiceOptions) -> None:
        if not any(ch.isalnum() for ch in inputs.text):
            raise InputError(f"line {inputs.line_id}: text {inputs.text!r} has nothing to speak; write words")
        if self.clip(inputs) is None:
            self.speaker(inputs, options)
        self.folder(options, self.spec(options))
        if options.repo is not None and not (options.repo / "cosyvoice" / "cli" / "cosyvoice.py").is_file():
            raise InputError(f"options.{SKILL}.repo: {options.repo} is not a CosyVoice checkout (no "
                             f"cosyvoice/cli/cosyvoice.py). {INSTALL_HINT}")
        if options.repo is not None and not any((options.repo / "third_party" / "Matcha-TTS").glob("*")):
            raise InputError(f"options.{SKILL}.repo: {options.repo}/third_party/Matcha-TTS is empty: run `git "
                             "submodule update --init --recursive` in the clone")
        _runtime_path(options.repo)
        if not _importable("cosyvoice"):
            raise MissingDependencyError(f"the CosyVoice runtime (`cosyvoice`) is not importable. {INSTALL_HINT}")
        torch = require("torch", extra="diffusion", purpose="CosyVoice")
        gpu = torch.cuda.is_available()
        if options.device.startswith("cuda"):
            if not gpu:
                raise InputError(f"options.{SKILL}.device is {options.device} but no CUDA GPU is visible; run on a "
                                 "GPU machine, or set device: cpu (minutes per line)")
            index = int(options.device.split(":")[1]) if ":" in options.device else 0
            if index >= torch.cuda.device_count():
                raise InputError(f"options.{SKILL}.device: {options.device}, but only {torch.cuda.device_count()} "
                                 "GPU(s) are visible")
        elif gpu:
            raise InputError(f"options.{SKILL}.device is cpu but a GPU is visible, and CosyVoice always places itself "
                             "on a visible GPU; use device: cuda, or hide the GPUs (CUDA_VISIBLE_DEVICES=)")

    def backend_for(self, options: CosyVoiceOptions) -> str:
        return f"cosyvoice {options.model} ({'fp16' if options.fp16 else 'fp32'}, local weights)"

    # ---- the line --------------------------------------------------------------------------------------

    def prompts(self, inputs: DubbingInput, options: CosyVoiceOptions, version: int) -> tuple[str, str | None]:
        """(mode, instruction) for this line: instruct2 with the emotion when the voice is a clip and the line has
        one; else zero_shot (clip + transcript), cross_lingual (clip alone) or a saved speaker."""
        clip = inputs.voice.reference_clip
        if clip is None:
            return "speaker", None
        if options.instruct and inputs.emotion.value != "neutral":
            said = EMOTION_INSTRUCTIONS[inputs.emotion][inputs.language]
            return "instruct2", (f"{V3_PREFIX} {said}{END_OF_PROMPT}" if version == 3 else f"{said}{END_OF_PROMPT}")
        return ("zero_shot" if Path(clip).with_suffix(".txt").is_file() else "cross_lingual"), None

    def speak(self, model, inputs: DubbingInput, options: CosyVoiceOptions, version: int, speed: float):
        mode, instruction = self.prompts(inputs, options, version)
        text = inputs.text
        clip = str(inputs.voice.reference_clip) if inputs.voice.reference_clip else ""
        if mode == "instruct2":
            return mode, model.inference_instruct2(text, instruction, clip, stream=False, speed=speed)
        if mode == "zero_shot":
            transcript = Path(clip).with_suffix(".txt").read_text(encoding="utf-8").strip()
            prompt = f"{V3_PREFIX}{END_OF_PROMPT}{transcript}" if version == 3 else transcript
            return mode, model.inference_zero_shot(text, prompt, clip, stream=False, speed=speed)
        if mode == "cross_lingual":
            said = f"{V3_PREFIX}{END_OF_PROMPT}{text}" if version == 3 else text
            return mode, model.inference_cross_lingual(said, clip, stream=False, speed=speed)
        speaker = self.speaker(inputs, options)
        saved = model.frontend.spk2info
        if speaker not in saved:
            raise InputError(f"line {inputs.line_id}: speaker '{speaker}' is not in the model folder's spk2info.pt "
                             f"(saved: {', '.join(sorted(saved)) or 'none'}); save it with add_zero_shot_spk + "
                             "save_spkinfo, or give the character a reference_clip")
        if "prompt_text" in saved[speaker]:  # a saved zero-shot speaker: its prompt is stored with it
            return "saved_zero_shot", model.inference_zero_shot(text, "", "", zero_shot_spk_id=speaker, stream=False,
                                                                speed=speed)
        return "sft", model.inference_sft(text, speaker, stream=False, speed=speed)

    def run(self, inputs: DubbingInput, options: CosyVoiceOptions,
            ctx: SkillContext) -> tuple[DubbedLine, dict[str, float]]:
        spec = self.spec(options)
        folder = self.folder(options, spec)
        _runtime_path(options.repo)
        torch = require("torch", extra="diffusion", purpose="CosyVoice")
        model = load_model(folder, spec.version, options.device, options.fp16)
        rate_factor, _pitch = EMOTION_PROSODY[inputs.emotion]
        speed = speed_for(inputs.voice.rate, rate_factor)
        cuda = options.device.startswith("cuda")
        with _use[id(model)]:  # one line at a time per model: its caches are not thread-safe
            seed = line_seed(ctx.seed, inputs.line_id)
            random.seed(seed)
            torch.manual_seed(seed)
            if cuda:
                torch.cuda.manual_seed_all(seed)
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            mode, chunks = self.speak(model, inputs, options, spec.version, speed)
            try:
                samples = _samples(chunks)
            except (RuntimeError, ValueError, AssertionError, KeyError) as exc:
                raise RenderError(f"CosyVoice ({mode}) failed on line {inputs.line_id}: {exc}") from None
            if cuda:
                torch.cuda.synchronize()
            seconds = time.perf_counter() - t0
        if cuda:
            self.device_used = f"{options.device} {torch.cuda.get_device_name()}"
        who = inputs.voice.voice_id or (Path(inputs.voice.reference_clip).name if inputs.voice.reference_clip
                                        else self.speaker(inputs, options))
        line, quantities = finish_line(ctx, inputs, samples, int(model.sample_rate), engine="CosyVoice",
                                       voice=f"cosyvoice {spec.id} {mode} {who} speed×{speed:.2f}")
        if cuda:
            quantities["gpu_seconds"] = round(seconds, 4)
        return line, quantities
