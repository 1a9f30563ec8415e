"""The voice cast: every character sounds like no one else, and like themselves in every episode.

Within an episode, two characters whose voices a listener could not tell apart (same engine,
gender and variant, pitch within a few steps) are given the next free variant. Across a series, a
voice bank (`voices.json` in the series folder) holds each character's voice as first cast:
later episodes, whatever their screenplay says, speak with the banked voice, so a character never
changes voice between episodes. Both decisions are reported, never made silently.
"""

from __future__ import annotations

import fcntl
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pydantic import Field

from microdrama.domain import Screenplay, Strict, Voice
from microdrama.errors import InputError
from microdrama.files import atomic_write_text

VARIANTS = {"female": 5, "male": 7}  # espeak-ng has f1-f5 and m1-m7
PITCH_STEP = 8  # pitches closer than this sound alike
_in_process = threading.Lock()  # episodes of a series render in threads of one process


class VoiceBank(Strict):
    series: str = Field(description="the series title the cast belongs to")
    cast: dict[str, Voice] = Field(default_factory=dict, description="character id -> locked voice")


def sounds_like(a: Voice, b: Voice) -> bool:
    if a.voice_id and b.voice_id and a.engine == b.engine:  # a named neural voice is that voice, whatever else
        return a.voice_id == b.voice_id
    fields = ("engine", "voice_id", "gender", "variant", "reference_clip")
    return all(getattr(a, f) == getattr(b, f) for f in fields) and abs(a.pitch - b.pitch) < PITCH_STEP


def _distinct(voice: Voice, taken: list[Voice]) -> Voice:
    """`voice`, or the nearest variant of the same gender that sounds like no one in `taken`."""
    if not any(sounds_like(voice, t) for t in taken):
        return voice
    if voice.voice_id:  # a named neural voice is that voice whatever its variant: two speakers cannot share it
        raise InputError(f"voice_id '{voice.voice_id}' is given to two speakers; give each character its own "
                         "voice_id (and the narrator another)")
    count = VARIANTS[voice.gender]
    for step in range(1, count):
        candidate = voice.model_copy(update={"variant": (voice.variant - 1 + step) % count + 1})
        if not any(sounds_like(candidate, t) for t in taken):
            return candidate
    for shift in (PITCH_STEP, -PITCH_STEP, 2 * PITCH_STEP, -2 * PITCH_STEP):  # every variant used: move the pitch
        candidate = voice.model_copy(update={"pitch": min(99, max(0, voice.pitch + shift))})
        if not any(sounds_like(candidate, t) for t in taken):
            return candidate
    return voice


def cast_voices(screenplay: Screenplay, bank: VoiceBank | None = None,
                narrator: Voice | None = None) -> tuple[Screenplay, list[str]]:
    """The screenplay with its cast locked to the bank and made distinct, and a note per change."""
    notes, taken, characters = [], [narrator] if narrator else [], []
    for c in screenplay.series.characters:
        voice = c.voice
        if bank and c.id in bank.cast:
            if bank.cast[c.id] != voice:
                notes.append(f"{c.name} ({c.id}) keeps the voice from earlier episodes (voice bank)")
            voice = bank.cast[c.id]
        else:
            voice = _distinct(voice, taken)
            if voice != c.voice:
                notes.append(f"{c.name} ({c.id}) sounded like another character: now variant {voice.variant}, "
                             f"pitch {voice.pitch}")
        taken.append(voice)
        characters.append(c.model_copy(update={"voice": voice}))
    clash = [(a.id, b.id) for i, a in enumerate(characters) for b in characters[i + 1:]
             if sounds_like(a.voice, b.voice)]
    if clash:
        raise InputError(f"characters {clash[0][0]} and {clash[0][1]} have the same locked voice in the voice "
                         "bank; give one of them another voice in the series' voices.json")
    series = screenplay.series.model_copy(update={"characters": characters})
    return screenplay.model_copy(update={"series": series}), notes


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One writer at a time, across threads and processes (episodes on several workers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _in_process, open(path.with_name(path.name + ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def lock_voices(bank_path: Path, screenplay: Screenplay, narrator: Voice | None = None) -> tuple[Screenplay, list[str]]:
    """Cast this episode from the series' voice bank, adding its new characters to the bank."""
    with _locked(bank_path):
        if bank_path.is_file():
            try:
                bank = VoiceBank.model_validate_json(bank_path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise InputError(f"{bank_path} is not a voice bank ({str(exc).splitlines()[0]}); fix or remove it") \
                    from None
        else:
            bank = VoiceBank(series=screenplay.series.title)
        cast, notes = cast_voices(screenplay, bank, narrator)
        added = {c.id: c.voice for c in cast.series.characters if c.id not in bank.cast}
        if added:
            bank = bank.model_copy(update={"cast": {**bank.cast, **added}})
            atomic_write_text(bank_path, bank.model_dump_json(indent=2, exclude_none=True))
    return cast, notes


FORMANT_ENGINE = "dubbing-espeak"
NEURAL_HINT = {"zh": "dubbing-kokoro with a Chinese voices file (options: dubbing-kokoro: {voices: …})",
               "en": "dubbing-piper (bundled) or dubbing-kokoro"}


def fallback_note(screenplay: Screenplay, default_engine: str, narrator: Voice) -> str | None:
    """Say so when some speakers are voiced by espeak-ng, the formant fallback, and how to get a neural voice."""
    speakers = [(c.name, c.voice) for c in screenplay.series.characters] + [("narrator", narrator)]
    formant = [name for name, voice in speakers if (voice.engine or default_engine) == FORMANT_ENGINE]
    if not formant:
        return None
    lang = screenplay.series.language
    return (f"{', '.join(formant)} speak with espeak-ng, a formant synthesiser (the CPU fallback, not a neural "
            f"voice); for neural {lang} voices set the engine to {NEURAL_HINT[lang]}")


def cast_record(screenplay: Screenplay, default_engine: str, narrator: Voice) -> list[dict]:
    """Who speaks with which voice, and on whose consent a voice is cloned: for the manifest and the filing pack."""
    speakers = [(c.id, c.name, c.voice) for c in screenplay.series.characters] + [("narrator", "narrator", narrator)]
    record = []
    for speaker_id, name, voice in speakers:
        entry = {"speaker": speaker_id, "name": name, "engine": voice.engine or default_engine,
                 "voice_id": voice.voice_id, "gender": voice.gender, "variant": voice.variant}
        if voice.reference_clip is not None:
            entry["cloned_from"] = str(voice.reference_clip)
            entry["consent"] = voice.consent.model_dump(mode="json") if voice.consent else None
        record.append(entry)
    return record


def describe_cast(record: list[dict]) -> str:
    """One line per speaker, for people reading a filing pack."""
    lines = []
    for e in record:
        voice = e["voice_id"] or f"{e['gender']} variant {e['variant']}"
        line = f"{e['name']}: {e['engine']} ({voice})"
        if "cloned_from" in e:
            c = e["consent"] or {}
            line += (f", cloned from {e['cloned_from']} with the consent of {c.get('speaker')} "
                     f"({c.get('scope')}, until {c.get('expires')}, evidence sha256 {str(c.get('evidence_sha256'))[:12]}…)")
        lines.append(line)
    return "\n".join(lines)
