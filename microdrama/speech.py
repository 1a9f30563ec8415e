"""What every speech backend shares: how emotion colours delivery, trimming, and writing WAVs."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from microdrama.domain import Emotion
from microdrama.errors import RenderError
from microdrama.files import atomic_path

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


# How a line's emotion is said to engines that take a natural-language instruction (CosyVoice v3 `instruction`,
# Qwen-TTS instruct `instructions`, OpenAI gpt-4o-mini-tts `instructions`), in the line's language.
EMOTION_INSTRUCTIONS: dict[Emotion, dict[str, str]] = {
    Emotion.neutral: {"zh": "用自然平稳的语气说", "en": "Speak naturally and evenly."},
    Emotion.angry: {"zh": "用愤怒、咬牙切齿的语气说", "en": "Speak angrily, sharp and forceful."},
    Emotion.sad: {"zh": "用悲伤、低沉的语气慢慢说", "en": "Speak sadly, low and slow."},
    Emotion.happy: {"zh": "用开心、轻快的语气说", "en": "Speak happily, light and bright."},
    Emotion.fearful: {"zh": "用害怕、颤抖的语气说", "en": "Speak fearfully, with a trembling voice."},
    Emotion.surprised: {"zh": "用惊讶的语气说", "en": "Speak with surprise."},
    Emotion.cold: {"zh": "用冷漠、克制的语气说", "en": "Speak coldly, flat and restrained."},
    Emotion.tender: {"zh": "用温柔、轻声的语气说", "en": "Speak tenderly and softly."},
}


def trim_silence(samples: np.ndarray, sample_rate: int, threshold: int = 250, pad_s: float = 0.03) -> np.ndarray:
    """Drop leading/trailing silence so subtitles start when the voice starts."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    if loud.size == 0:
        return samples
    pad = int(pad_s * sample_rate)
    return samples[max(0, loud[0] - pad) : min(samples.size, loud[-1] + pad + 1)]


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    with atomic_path(path) as tmp, wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(samples.astype(np.int16).tobytes())


def read_wav(path: Path) -> tuple[int, np.ndarray]:
    """(sample rate, mono int16 samples) of a 16-bit WAV; stereo is averaged to mono."""
    with wave.open(str(path), "rb") as w:
        rate, channels = w.getframerate(), w.getnchannels()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return rate, data


def finish_line(ctx, inputs, samples: np.ndarray, sample_rate: int, voice: str, engine: str):
    """A dubbing engine's samples as the line's trimmed WAV in `ctx`, with the DubbedLine and the quantities
    every dubbing skill reports; an engine that made only silence is an error, never an empty line."""
    from microdrama.stages import DubbedLine

    samples = trim_silence(samples, sample_rate)
    if samples.size == 0:
        raise RenderError(f"{engine} produced no audio for line {inputs.line_id} ({inputs.text!r})")
    out = ctx.path(f"{inputs.line_id}.wav")
    write_wav(out, samples, sample_rate)
    duration = samples.size / sample_rate
    line = DubbedLine(line_id=inputs.line_id, audio=str(out), duration_s=duration, sample_rate=sample_rate,
                      voice=voice)
    return line, {"tts_characters": float(len(inputs.text)), "audio_seconds": round(duration, 4)}
