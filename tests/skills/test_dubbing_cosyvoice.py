"""CosyVoice 2/3 from a local folder. The runtime is not on PyPI, so a stand-in `cosyvoice` package is put in
sys.modules at the loading boundary: it checks the folder it is given, records each call and returns a waveform
drawn from torch's RNG — so the skill's own code (folder and consent checks, prompts, emotion as instruction,
seeding, joining chunks, finishing, usage) really runs. The real model runs in the `gpu` test."""

import os
import sys
import types
import wave
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from microdrama.domain import Voice
from microdrama.errors import InputError, MissingDependencyError
from microdrama.skill import SkillContext
from microdrama.skills import dubbing_cosyvoice
from microdrama.skills.dubbing_cosyvoice import CosyVoiceDubbing, expected_files
from microdrama.speech import read_wav
from tests.skills.contract import Case, SkillContract

torch = pytest.importorskip("torch")

CONSENT = {"speaker": "李女士", "scope": "series 逆袭千金, all platforms",
           "expires": str(date.today() + timedelta(days=365)), "evidence_sha256": "ab" * 32}


def write_clip(path: Path, rate: int = 16000) -> Path:
    t = np.arange(int(rate * 0.5)) / rate
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.sin(2 * np.pi * 220 * t) * 8000).astype(np.int16).tobytes())
    return path


def model_folder(root: Path, version: int = 3) -> Path:
    folder = root / f"cv{version}"
    for name in expected_files(version):
        target = folder / name.rstrip("/")
        if name.endswith("/"):
            target.mkdir(parents=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"")
    return folder


class FakeRuntime:
    """`cosyvoice.cli.cosyvoice` as the skill sees it: CosyVoice2/3 classes that load from a folder and yield
    {'tts_speech': tensor (1, n)} in two chunks."""

    def __init__(self):
        self.calls: list[tuple] = []
        runtime = self

        class CosyVoice2:
            version = 2

            def __init__(self, model_dir, load_jit=False, load_trt=False, load_vllm=False, fp16=False):
                assert Path(model_dir, f"cosyvoice{self.version}.yaml").is_file(), "not a CosyVoice folder"
                runtime.calls.append(("load", type(self).__name__, model_dir, fp16))
                self.sample_rate = 24000
                self.frontend = types.SimpleNamespace(spk2info={
                    "lin_saved": {"prompt_text": torch.zeros(1, 3), "llm_embedding": torch.zeros(1, 192)},
                    "zhao_sft": {"embedding": torch.zeros(1, 192)}})

            def _speech(self, mode, text, speed, *args, **kwargs):
                runtime.calls.append((mode, text, speed, *args, kwargs))
                n = int(24000 * 0.06 * len(text) / speed)
                audio = (torch.rand(1, n) - 0.5) * 1.2  # some samples beyond ±0.5: int16 clipping is exercised
                yield {"tts_speech": audio[:, : n // 2]}
                yield {"tts_speech": audio[:, n // 2:]}

            def inference_instruct2(self, tts_text, instruct_text, prompt_wav, zero_shot_spk_id="", stream=False,
                                    speed=1.0, text_frontend=True):
                return self._speech("instruct2", tts_text, speed, instruct_text, prompt_wav)

            def inference_zero_shot(self, tts_text, prompt_text, prompt_wav, zero_shot_spk_id="", stream=False,
                                    speed=1.0, text_frontend=True):
                return self._speech("zero_shot", tts_text, speed, prompt_text, prompt_wav, spk=zero_shot_spk_id)

            def inference_cross_lingual(self, tts_text, prompt_wav, zero_shot_spk_id="", stream=False, speed=1.0,
                                        text_frontend=True):
                return self._speech("cross_lingual", tts_text, speed, prompt_wav)

            def inference_sft(self, tts_text, spk_id, stream=False, speed=1.0, text_frontend=True):
                return self._speech("sft", tts_text, speed, spk_id)

        class CosyVoice3(CosyVoice2):
            version = 3

        self.module = types.ModuleType("cosyvoice.cli.cosyvoice")
        self.module.CosyVoice2, self.module.CosyVoice3 = CosyVoice2, CosyVoice3

    def of(self, mode: str) -> list[tuple]:
        return [c for c in self.calls if c[0] == mode]


@pytest.fixture
def runtime(monkeypatch):
    fake = FakeRuntime()
    package, cli = types.ModuleType("cosyvoice"), types.ModuleType("cosyvoice.cli")
    package.cli, cli.cosyvoice = cli, fake.module
    for name, module in (("cosyvoice", package), ("cosyvoice.cli", cli), ("cosyvoice.cli.cosyvoice", fake.module)):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(dubbing_cosyvoice, "_resident", {})  # each test loads its own folder
    monkeypatch.setattr(dubbing_cosyvoice, "_use", {})
    return fake


@pytest.fixture
def folder(tmp_path):
    return model_folder(tmp_path / "models")


@pytest.fixture
def clip(tmp_path):
    (tmp_path / "refs").mkdir()
    return write_clip(tmp_path / "refs" / "lin.wav")


def line(clip=None, emotion="angry", language="zh", text="你回来做什么？", **voice):
    voice = {"gender": "female", **({"reference_clip": str(clip), "consent": CONSENT} if clip else {}), **voice}
    return {"line_id": "s01-l1", "text": text, "language": language, "emotion": emotion, "voice": voice}


def dub(tmp_path, data, **options):
    skill = CosyVoiceDubbing()
    return skill(skill.parse_input(data), SkillContext(tmp_path / "out"), skill.parse_options(options))


class TestDubbingCosyVoiceContract(SkillContract):
    @pytest.fixture
    def case(self, runtime, folder, clip):
        return Case(CosyVoiceDubbing(), line(clip), {"model_dir": str(folder), "device": "cpu"})


# ---- how a line is said ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version, model, instruction", [
    (3, "fun-cosyvoice3-0.5b-2512", "You are a helpful assistant. 用愤怒、咬牙切齿的语气说<|endofprompt|>"),
    (2, "cosyvoice2-0.5b", "用愤怒、咬牙切齿的语气说<|endofprompt|>"),
])
def test_a_cloned_voice_hears_the_lines_emotion_as_an_instruction(runtime, tmp_path, clip, version, model,
                                                                   instruction):
    folder = model_folder(tmp_path / "models", version)
    result = dub(tmp_path, line(clip), model=model, model_dir=str(folder), device="cpu")
    (load,), (call,) = runtime.of("load"), runtime.of("instruct2")
    assert load[1:] == (f"CosyVoice{version}", str(folder), False)
    _mode, text, speed, said, prompt_wav, _kw = call
    assert (text, said, prompt_wav) == ("你回来做什么？", instruction, str(clip))
    assert speed > 1.0  # angry is said faster as well
    rate, samples = read_wav(result.output.audio)
    assert rate == 24000 and result.output.duration_s == pytest.approx(samples.size / rate)
    assert f"cosyvoice {model} instruct2 lin.wav" in result.output.voice


def test_a_neutral_line_is_a_zero_shot_prompt_with_the_clips_transcript_else_cross_lingual(runtime, tmp_path,
                                                                                          folder, clip):
    dub(tmp_path / "a", line(clip, emotion="neutral", language="en", text="Get out."), model_dir=str(folder),
        device="cpu")
    clip.with_suffix(".txt").write_text("我等这一天很久了。\n", encoding="utf-8")
    dub(tmp_path / "b", line(clip, emotion="neutral", language="en", text="Get out."), model_dir=str(folder),
        device="cpu")
    (cross,), (zero,) = runtime.of("cross_lingual"), runtime.of("zero_shot")
    assert cross[1] == "You are a helpful assistant.<|endofprompt|>Get out." and cross[3] == str(clip)
    assert zero[1] == "Get out." and zero[3:5] == ("You are a helpful assistant.<|endofprompt|>我等这一天很久了。",
                                                   str(clip))


def test_without_instructions_an_emotional_line_still_clones_and_changes_speed(runtime, tmp_path, folder, clip):
    dub(tmp_path, line(clip, emotion="sad"), model_dir=str(folder), device="cpu", instruct=False)
    assert not runtime.of("instruct2") and runtime.of("cross_lingual")[0][2] < 1.0  # sad: slower


def test_saved_speakers_are_picked_by_voice_id_or_variant(runtime, tmp_path, folder):
    options = {"model_dir": str(folder), "device": "cpu", "speakers": {"male": ["zhao_sft"]}}
    dub(tmp_path / "a", line(voice_id="lin_saved"), **options)
    dub(tmp_path / "b", line(gender="male", variant=3), **options)
    (saved,), (sft,) = runtime.of("zero_shot"), runtime.of("sft")
    assert saved[3:5] == ("", "") and saved[5] == {"spk": "lin_saved"}  # its prompt is stored with it
    assert sft[3] == "zhao_sft"
    with pytest.raises(InputError, match="not in the model folder's spk2info.pt.*saved: lin_saved, zhao_sft"):
        dub(tmp_path / "c", line(voice_id="nobody"), **options)


def test_the_same_line_is_seeded_the_same_and_the_model_loads_once(runtime, tmp_path, folder, clip):
    first = dub(tmp_path / "a", line(clip), model_dir=str(folder), device="cpu")
    second = dub(tmp_path / "b", line(clip), model_dir=str(folder), device="cpu")
    assert len(runtime.of("load")) == 1
    assert Path(first.output.audio).read_bytes() == Path(second.output.audio).read_bytes()
    other = dub(tmp_path / "c", {**line(clip), "line_id": "s01-l2"}, model_dir=str(folder), device="cpu")
    assert Path(other.output.audio).read_bytes() != Path(first.output.audio).read_bytes()  # seeded per line
    usage = first.usage
    assert usage.backend == "cosyvoice fun-cosyvoice3-0.5b-2512 (fp32, local weights)" and usage.device == "cpu"
    assert usage.quantities["tts_characters"] == 7.0 and usage.quantities["audio_seconds"] > 0
    assert usage.gpu_seconds == 0.0


# ---- refused up front ---------------------------------------------------------------------------------


def check(data, **options):
    skill = CosyVoiceDubbing()
    skill.check_inputs(skill.parse_input(data), skill.parse_options(options))


def test_a_missing_folder_names_the_files_and_where_to_get_them(runtime, tmp_path, clip):
    with pytest.raises(InputError) as caught:
        check(line(clip), model_dir=str(tmp_path / "nowhere"), device="cpu")
    message = str(caught.value)
    assert "cosyvoice3.yaml, llm.pt, flow.pt, hift.pt, campplus.onnx, speech_tokenizer_v3.onnx, CosyVoice-BlankEN/" \
        in message
    assert "modelscope download --model FunAudioLLM/Fun-CosyVoice3-0.5B-2512" in message
    assert "huggingface-cli download FunAudioLLM/Fun-CosyVoice3-0.5B-2512" in message and "Apache-2.0" in message
    v2 = model_folder(tmp_path / "models", 2)
    with pytest.raises(InputError, match="holds cosyvoice2.yaml: set options.dubbing-cosyvoice.model"):
        check(line(clip), model_dir=str(v2), device="cpu")
    with pytest.raises(InputError, match="no voice model 'cosyvoice-9' .*known: fun-cosyvoice3-0.5b-2512, cosyvoice2"):
        check(line(clip), model="cosyvoice-9", model_dir=str(v2), device="cpu")


def test_the_registrys_folder_is_used_when_no_folder_is_given(runtime, tmp_path, monkeypatch, clip):
    model_folder(tmp_path, 3).rename(tmp_path / "Fun-CosyVoice3-0.5B")
    monkeypatch.setenv("MICRODRAMA_MODELS_DIR", str(tmp_path))
    check(line(clip), device="cpu")


def test_a_voice_with_nothing_to_speak_with_is_told_the_three_ways_out(runtime, folder):
    with pytest.raises(InputError, match="no built-in voices.*reference_clip.*voice_id.*speakers.female"):
        check(line(), model_dir=str(folder), device="cpu")


def test_a_clone_needs_live_consent_and_a_clip_of_16_khz(runtime, tmp_path, folder, clip):
    skill, options = CosyVoiceDubbing(), CosyVoiceDubbing().parse_options({"model_dir": str(folder), "device": "cpu"})
    inputs = skill.parse_input(line(clip))
    expired = inputs.voice.consent.model_copy(update={"expires": date.today() - timedelta(days=1)})
    lapsed = inputs.model_copy(update={"voice": Voice.model_construct(**{**dict(inputs.voice), "consent": expired})})
    with pytest.raises(InputError, match="consent of 李女士 to clone their voice expired"):
        skill.check_inputs(lapsed, options)
    unconsented = inputs.model_copy(update={"voice": Voice.model_construct(**{**dict(inputs.voice), "consent": None})})
    with pytest.raises(InputError, match="needs the speaker's consent"):
        skill.check_inputs(unconsented, options)
    low = write_clip(tmp_path / "refs" / "phone.wav", rate=8000)
    with pytest.raises(InputError, match="sampled at 8000 Hz.*at least 16000 Hz"):
        check(line(low), model_dir=str(folder), device="cpu")
    with pytest.raises(InputError, match="does not exist"):
        check(line(tmp_path / "refs" / "gone.wav"), model_dir=str(folder), device="cpu")


def test_without_the_runtime_it_says_how_to_install_it(tmp_path, folder, clip, monkeypatch):
    monkeypatch.delitem(sys.modules, "cosyvoice", raising=False)
    with pytest.raises(MissingDependencyError, match="git clone --recursive https://github.com/FunAudioLLM/CosyVoice"):
        check(line(clip), model_dir=str(folder), device="cpu")
    with pytest.raises(InputError, match="is not a CosyVoice checkout"):
        check(line(clip), model_dir=str(folder), device="cpu", repo=str(tmp_path))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_cuda_without_a_gpu_is_refused(runtime, folder, clip):
    with pytest.raises(InputError, match="no CUDA GPU is visible"):
        check(line(clip), model_dir=str(folder))  # device defaults to cuda


# ---- the real model -----------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CosyVoice runs on a CUDA GPU")
@pytest.mark.skipif(not (os.environ.get("MICRODRAMA_COSYVOICE_DIR") and os.environ.get("MICRODRAMA_COSYVOICE_REPO")),
                    reason="no tiny CosyVoice build exists (its runtime is a git clone, not a package): set "
                           "MICRODRAMA_COSYVOICE_DIR (a CosyVoice2-0.5B or Fun-CosyVoice3-0.5B folder) and "
                           "MICRODRAMA_COSYVOICE_REPO (a clone with its submodules and requirements) on a GPU machine")
def test_the_real_model_clones_the_repositorys_sample_voice(tmp_path):
    folder, repo = Path(os.environ["MICRODRAMA_COSYVOICE_DIR"]), Path(os.environ["MICRODRAMA_COSYVOICE_REPO"])
    model = "fun-cosyvoice3-0.5b-2512" if (folder / "cosyvoice3.yaml").is_file() else "cosyvoice2-0.5b"
    clip = tmp_path / "zero_shot_prompt.wav"  # the repository's own sample prompt, with its transcript
    clip.write_bytes((repo / "asset" / "zero_shot_prompt.wav").read_bytes())
    clip.with_suffix(".txt").write_text("希望你以后能够做的比我还好呦。", encoding="utf-8")
    options = {"model": model, "model_dir": str(folder), "repo": str(repo), "device": "cuda"}
    result = dub(tmp_path, line(clip, emotion="neutral", text="我回来了，这一次谁也别想再赶我走。"), **options)
    rate, samples = read_wav(result.output.audio)
    assert rate == 24000 and 1.0 < result.output.duration_s < 15.0
    assert np.abs(samples.astype(np.int32)).max() > 1000
    assert result.usage.gpu_seconds > 0 and result.usage.device.startswith("cuda")
    emotional = dub(tmp_path / "sad", line(clip, emotion="sad", text="我回来了。"), **options)
    assert "instruct2" in emotional.output.voice and emotional.output.duration_s > 0.3


def test_speed_follows_rate_and_emotion_within_what_cosyvoice_takes():
    assert dubbing_cosyvoice.speed_for(165, 1.0) == 1.0
    assert dubbing_cosyvoice.speed_for(80, 0.85) == 0.5 and dubbing_cosyvoice.speed_for(400, 1.12) == 2.0
