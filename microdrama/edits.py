"""Edits a person makes to a rendered episode: a line, a shot, a character's voice.

Each edit changes the run folder's `screenplay.yaml` — the same file a person may edit by hand and
re-render with `microdrama episode` — and is checked exactly as the CLI checks it (the screenplay's own
rules, then whether every line still fits its subtitles), so a bad edit is refused with the same message
wherever it comes from, and nothing is written. The store then re-renders only what the edit touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from microdrama.config import ProjectConfig
from microdrama.domain import Screenplay, dump_yaml, load_model, parse_model
from microdrama.errors import InputError
from microdrama.files import atomic_write_text
from microdrama.review import ReviewLog

SCREENPLAY_FILE = "screenplay.yaml"
VOICE_FIELDS = ("gender", "variant", "pitch", "rate", "engine", "voice_id")


def load_screenplay(run_dir: Path) -> Screenplay:
    path = Path(run_dir) / SCREENPLAY_FILE
    if not path.is_file():
        raise InputError(f"{path} is missing: render the episode first (microdrama episode/demo)")
    return load_model(Screenplay, path)


def _edited(screenplay: Screenplay, change, what: str) -> Screenplay:
    data = screenplay.model_dump(mode="json", exclude_none=True)
    change(data)
    return parse_model(Screenplay, data, source=what)


def _shot(data: dict[str, Any], shot_id: str) -> dict[str, Any]:
    for scene in data["episode"]["scenes"]:
        for shot in scene["shots"]:
            if shot["id"] == shot_id:
                return shot
    raise InputError(f"shot: no shot '{shot_id}' in this episode")


def edit_line(screenplay: Screenplay, line_id: str, *, text: str | None = None, emotion: str | None = None,
              speaker: str | None = None) -> Screenplay:
    """A line's words, emotion or speaker; the speaker must be in the cast (or the narrator)."""
    try:
        line = screenplay.line(line_id)
    except KeyError:
        raise InputError(f"line: no line '{line_id}' in this episode") from None
    index = int(line_id.rsplit("-l", 1)[1]) - 1

    def change(data):
        target = _shot(data, line.shot_id)["lines"][index]
        if text is not None:
            target["text"] = text.strip()
        if emotion:
            target["emotion"] = emotion
        if speaker:
            target["speaker"] = speaker
    return _edited(screenplay, change, f"line {line_id}")


def edit_shot(screenplay: Screenplay, shot_id: str, *, prompt: str | None = None,
              min_duration_s: float | None = None) -> Screenplay:
    """A shot's visual prompt, or its shortest on-screen time (the dubbed lines may still make it longer)."""
    def change(data):
        shot = _shot(data, shot_id)
        if prompt is not None:
            shot["visual_prompt"] = prompt.strip()
        if min_duration_s is not None:
            shot["min_duration_s"] = min_duration_s
    return _edited(screenplay, change, f"shot {shot_id}")


def edit_voice(screenplay: Screenplay, character_id: str, **fields: Any) -> Screenplay:
    """A character's voice settings; empty values keep what is there."""
    unknown = set(fields) - set(VOICE_FIELDS)
    if unknown:
        raise InputError(f"voice: unknown field(s) {sorted(unknown)}; use {', '.join(VOICE_FIELDS)}")

    def change(data):
        for c in data["series"]["characters"]:
            if c["id"] == character_id:
                c["voice"].update({k: v for k, v in fields.items() if v not in (None, "")})
                return
        raise InputError(f"character: no character '{character_id}' in the cast "
                         f"({', '.join(ch['id'] for ch in data['series']['characters'])})")
    return _edited(screenplay, change, f"voice of {character_id}")


def save_screenplay(run_dir: Path, screenplay: Screenplay, config: ProjectConfig) -> Path:
    """Check the edited screenplay as the CLI would (every line must fit its subtitles), then write it."""
    from microdrama.run import check_subtitles_fit

    check_subtitles_fit(screenplay, config)
    return atomic_write_text(Path(run_dir) / SCREENPLAY_FILE, dump_yaml(screenplay))


def apply_edit(run_dir: Path, config: ProjectConfig, edit, *args: Any, **kwargs: Any) -> Screenplay:
    """Read, edit, check and write under the episode's lock, so two edits at once do not lose one another."""
    with ReviewLog.lock(run_dir):
        edited = edit(load_screenplay(run_dir), *args, **kwargs)
        save_screenplay(run_dir, edited, config)
    return edited
