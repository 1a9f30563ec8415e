"""Helpers several tests share: real dubbing of a screenplay's lines."""

from __future__ import annotations

from pathlib import Path

from microdrama.domain import NARRATOR, Screenplay, Voice
from microdrama.skill import SkillContext
from microdrama.skills.dubbing_espeak import EspeakDubbing
from microdrama.stages import DubbingInput


def dub_all(screenplay: Screenplay, folder: Path) -> tuple[dict[str, str], dict[str, float]]:
    """Every line spoken with espeak-ng: (line id -> WAV path, line id -> seconds)."""
    audio, durations = {}, {}
    for ln in screenplay.spoken_lines():
        voice = Voice(gender="male") if ln.speaker == NARRATOR else screenplay.series.character(ln.speaker).voice
        d = EspeakDubbing()(DubbingInput(line_id=ln.id, text=ln.text, language=screenplay.series.language,
                                         voice=voice), SkillContext(folder)).output
        audio[ln.id], durations[ln.id] = d.audio, d.duration_s
    return audio, durations


def write_tone_bed(path: Path, seconds: float = 2.0, hz: float = 220.0, rate: int = 8000) -> Path:
    """A quiet sine tone as a WAV: a music bed for tests that need one."""
    import wave

    import numpy as np

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
        n = int(seconds * rate)
        w.writeframes((np.sin(np.arange(n) * 2 * np.pi * hz / rate) * 3000).astype("<i2").tobytes())
    return path
