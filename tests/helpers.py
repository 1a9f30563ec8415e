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
