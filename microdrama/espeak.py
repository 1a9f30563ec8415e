"""A minimal ctypes binding to libespeak-ng, run in a short-lived worker process per utterance.

Why a process per utterance: libespeak-ng keeps synthesis state in static variables that survive
`espeak_Terminate`, so the same line spoken after a different line comes out slightly different.
A fresh process makes every line a pure function of (text, voice, rate, pitch): re-runs are
byte-identical, which is what content-addressed caching and crash-resume rely on. It also keeps
the GPL-licensed library out of the toolkit's own process. Start-up costs ~40 ms per line.

Run as `python -m microdrama.espeak` with a JSON request on stdin: {"text", "voice", "rate",
"pitch", "out"}; writes a mono 16-bit WAV to `out` and prints {"sample_rate", "samples"}.
"""

from __future__ import annotations

import array
import ctypes
import json
import subprocess
import sys
import wave

from microdrama.processes import dies_with_parent

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_PHONEMES_IPA = 0x02
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _PITCH = 1, 3


class EspeakError(RuntimeError):
    pass


def _library(voice: str):
    """libespeak-ng, initialised in this process with `voice` selected."""
    import espeakng_loader

    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0)
    if sample_rate <= 0:
        raise EspeakError("espeak-ng failed to initialise its data")
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        raise EspeakError(f"espeak-ng has no voice '{voice}'")
    return lib, sample_rate


def phonemize_here(text: str, voice: str) -> list[str]:
    """IPA phonemes of `text`, one string per clause (espeak-ng's own clause split). For neural voices
    such as Piper, which were trained on exactly these phonemes. Call it in a worker process."""
    lib, _ = _library(voice)
    to_phonemes = lib.espeak_TextToPhonemes
    to_phonemes.restype = ctypes.c_char_p
    to_phonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
    buf = ctypes.create_string_buffer(text.encode("utf-8") + b"\0")
    cursor = ctypes.c_void_p(ctypes.addressof(buf))
    clauses = []
    while cursor.value:
        clause = to_phonemes(ctypes.byref(cursor), _CHARS_UTF8, _PHONEMES_IPA)
        if clause:
            clauses.append(clause.decode("utf-8"))
    return [c for c in clauses if c.strip()]


def synthesise_here(text: str, voice: str, rate: int, pitch: int) -> tuple[int, array.array]:
    """Synthesise in this process (use `speak`, which isolates every call in a fresh worker)."""
    lib, sample_rate = _library(voice)
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                 ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    samples = array.array("h")

    def collect(wav, count, _events):
        if wav and count > 0:
            samples.extend(ctypes.cast(wav, ctypes.POINTER(ctypes.c_short * count)).contents)
        return 0

    callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)(collect)
    lib.espeak_SetSynthCallback(callback)
    lib.espeak_SetParameter(_RATE, rate, 0)
    lib.espeak_SetParameter(_PITCH, pitch, 0)
    # Some voice variants (e.g. f2) add breath noise from espeak-ng's own random generator, seeded
    # differently in every process: a fixed seed makes the same line always give the same samples.
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_ng_SetRandSeed(0)
    data = text.encode("utf-8") + b"\0"
    if lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None) != 0:
        raise EspeakError(f"espeak-ng could not synthesise {text!r}")
    lib.espeak_Synchronize()
    return sample_rate, samples


def speak(text: str, voice: str, rate: int, pitch: int, out: str) -> int:
    """Synthesise one utterance into `out` (WAV) in a fresh worker process; returns the sample rate."""
    request = json.dumps({"text": text, "voice": voice, "rate": rate, "pitch": pitch, "out": out})
    proc = subprocess.run(dies_with_parent([sys.executable, "-m", "microdrama.espeak"]), input=request,
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise EspeakError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "espeak-ng worker failed")
    return int(json.loads(proc.stdout)["sample_rate"])


def _main() -> None:
    req = json.loads(sys.stdin.read())
    try:
        rate, samples = synthesise_here(req["text"], req["voice"], int(req["rate"]), int(req["pitch"]))
    except EspeakError as exc:
        sys.exit(f"espeak error: {exc}")
    with wave.open(req["out"], "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    print(json.dumps({"sample_rate": rate, "samples": len(samples)}))


if __name__ == "__main__":
    _main()
