"""Dubbing with espeak-ng: offline, CPU-only, ~1000x faster than real time.

espeak-ng is a formant synthesiser: robotic, but it reads Mandarin (`cmn`) and English
correctly and needs no model download, so every machine can dub a whole episode. Neural TTS
backends plug in behind the same contract (`stage = "dubbing"`). The library and its voice data
come from the `espeakng-loader` wheel; this file is a minimal ctypes binding to its C API.
"""

from __future__ import annotations

import array
import ctypes
import threading
import wave
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from microdrama.domain import Emotion, Language, Voice
from microdrama.errors import InputError, RenderError
from microdrama.skill import Skill, SkillContext, temp_path_for

# espeak-ng constants (speak_lib.h)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _VOLUME, _PITCH = 1, 2, 3

LANGUAGE_VOICES = {"zh": "cmn", "en": "en-us"}

# How emotion colours delivery: (rate factor, pitch offset). Subtle on purpose.
EMOTION_PROSODY: dict[Emotion, tuple[float, int]] = {
    Emotion.neutral: (1.0, 0),
    Emotion.angry: (1.12, 6),
    Emotion.sad: (0.85, -8),
    Emotion.happy: (1.05, 8),
    Emotion.fearful: (1.1, 10),
    Emotion.surprised: (1.0, 12),
    Emotion.cold: (0.95, -6),
    Emotion.tender: (0.9, 4),
}


class _Espeak:
    """Process-wide espeak-ng handle. The C library keeps global state, so calls are serialised."""

    _lock = threading.Lock()
    _instance: "_Espeak | None" = None

    def __init__(self) -> None:
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib = self.lib
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        data = espeakng_loader.get_data_path().encode()
        self.sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0)
        if self.sample_rate <= 0:
            raise RenderError(f"espeak-ng failed to initialise with data at {data.decode()}")
        self._samples = array.array("h")
        callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
        self._callback = callback_type(self._collect)  # keep a reference: C holds the pointer
        lib.espeak_SetSynthCallback(self._callback)
        info = ctypes.c_char_p()
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
        self.version = (lib.espeak_Info(ctypes.byref(info)) or b"?").decode()

    def _collect(self, wav, count, _events) -> int:
        if wav and count > 0:
            self._samples.extend(ctypes.cast(wav, ctypes.POINTER(ctypes.c_short * count)).contents)
        return 0

    @classmethod
    def get(cls) -> "_Espeak":
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def synthesise(self, text: str, voice_name: str, rate: int, pitch: int) -> np.ndarray:
        with self._lock:
            if self.lib.espeak_SetVoiceByName(voice_name.encode()) != 0:
                raise RenderError(f"espeak-ng has no voice '{voice_name}'")
            self.lib.espeak_SetParameter(_RATE, rate, 0)
            self.lib.espeak_SetParameter(_PITCH, pitch, 0)
            self._samples = array.array("h")
            data = text.encode("utf-8") + b"\0"
            if self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None) != 0:
                raise RenderError(f"espeak-ng could not synthesise {text!r}")
            self.lib.espeak_Synchronize()
            return np.frombuffer(self._samples.tobytes(), dtype=np.int16).copy()


def voice_name(language: Language, voice: Voice) -> str:
    """espeak-ng voice: language + variant, e.g. 'cmn+f3'. Distinct variants give distinct voices."""
    family = "f" if voice.gender == "female" else "m"
    variant = min(voice.variant, 5) if family == "f" else voice.variant
    return f"{LANGUAGE_VOICES[language]}+{family}{variant}"


def trim_silence(samples: np.ndarray, sample_rate: int, threshold: int = 250, pad_s: float = 0.03) -> np.ndarray:
    """Drop leading/trailing silence so subtitles start when the voice starts."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    if loud.size == 0:
        return samples
    pad = int(pad_s * sample_rate)
    return samples[max(0, loud[0] - pad) : min(samples.size, loud[-1] + pad + 1)]


class DubbingInput(BaseModel):
    line_id: str = Field(pattern=r"^[A-Za-z0-9_-]+$", description="stable id of the line; names the WAV")
    text: str = Field(min_length=1, description="the words to speak")
    language: Language = Field(description="'zh' or 'en'")
    voice: Voice = Field(description="the speaker's voice")
    emotion: Emotion = Field(Emotion.neutral, description="colours rate and pitch")


class DubbedLine(BaseModel):
    line_id: str
    audio: str = Field(description="path of the mono 16-bit WAV")
    duration_s: float
    sample_rate: int
    voice: str


class EspeakDubbing(Skill[DubbingInput, DubbedLine]):
    name = "dubbing-espeak"
    stage = "dubbing"
    version = "1"
    backend = "espeak-ng (formant TTS, offline)"
    description = "Speaks one line with espeak-ng (Mandarin 'cmn' or English), one distinct voice per character."
    Input = DubbingInput
    Output = DubbedLine

    def check_inputs(self, inputs: DubbingInput) -> None:
        if not any(ch.isalnum() for ch in inputs.text):
            raise InputError(f"line {inputs.line_id}: text {inputs.text!r} has nothing to speak; write words")

    def run(self, inputs: DubbingInput, ctx: SkillContext) -> tuple[DubbedLine, dict[str, float]]:
        engine = _Espeak.get()
        rate_factor, pitch_offset = EMOTION_PROSODY[inputs.emotion]
        name = voice_name(inputs.language, inputs.voice)
        samples = engine.synthesise(
            inputs.text,
            name,
            rate=int(inputs.voice.rate * rate_factor),
            pitch=max(0, min(99, inputs.voice.pitch + pitch_offset)),
        )
        samples = trim_silence(samples, engine.sample_rate)
        if samples.size == 0:
            raise RenderError(f"espeak-ng produced no audio for line {inputs.line_id} ({inputs.text!r})")
        out = ctx.path(f"{inputs.line_id}.wav")
        write_wav(out, samples, engine.sample_rate)
        duration = samples.size / engine.sample_rate
        result = DubbedLine(
            line_id=inputs.line_id, audio=str(out), duration_s=duration, sample_rate=engine.sample_rate, voice=name
        )
        return result, {"tts_characters": float(len(inputs.text)), "audio_seconds": round(duration, 4)}


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    tmp = temp_path_for(path)
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(samples.astype(np.int16).tobytes())
    tmp.replace(path)
