"""Errors a person can act on.

Every error the toolkit raises on bad input says *which field* is wrong and *how to fix it*,
so users never have to read a traceback from deep inside pydantic, ffmpeg or a model library.
"""

from __future__ import annotations

import reprlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError


class MicrodramaError(Exception):
    """Base class: the message is meant for the person running the tool."""


class InputError(MicrodramaError):
    """The user's input (brief, screenplay, config, CLI option) is invalid."""


class MissingDependencyError(MicrodramaError):
    """An optional dependency or external model is absent; the message says how to install it."""


class RenderError(MicrodramaError):
    """A media tool (ffmpeg, espeak-ng) failed; the message carries its last output lines."""


class BilledError(MicrodramaError):
    """A call failed but the provider still charged for it; `usage` says what was billed.

    Pipelines record the usage in the ledger before re-raising, so failed-but-billed API calls
    are never lost from the cost accounts.
    """

    def __init__(self, message: str, usage: object, attempt: str | None = None) -> None:
        super().__init__(message)
        self.usage = usage
        self.attempt = attempt  # the provider's id of the billed attempt (a task id): recorded once, however often
        #                         the step is re-run; None when the provider gives none (each failure is a new cost)


class UnknownSkillError(MicrodramaError, KeyError):
    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _model_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The nested model that holds the field at `loc` (for an unknown key: the model it was given to)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return None
        annotation = fields[part].annotation
        for arg in getattr(annotation, "__args__", ()) or ():
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                annotation = arg
        current = annotation
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unknown_key(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> str:
    """'unknown key' with the closest known names, so a typo says what was meant."""
    import difflib

    owner = _model_at(model, loc[:-1])
    known = sorted(owner.model_fields) if owner else []
    close = difflib.get_close_matches(str(loc[-1]), known, n=2)
    if close:
        return f"unknown key; did you mean {' or '.join(repr(c) for c in close)}?"
    if owner is not None and not known:
        return "unknown key; none are accepted here"
    return "unknown key" + (f"; known keys: {', '.join(known)}" if known else "")


def _field_hint(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> str | None:
    """The description of the field at `loc`, to tell the user what it expects."""
    named = tuple(part for part in loc if not isinstance(part, int))
    owner = _model_at(model, named[:-1]) if named else None
    info = owner.model_fields.get(named[-1]) if owner else None
    return info.description if info is not None else None


def format_validation_error(
    exc: ValidationError, model: type[BaseModel] | None = None, source: str | Path | None = None
) -> str:
    """Turn a pydantic ValidationError into lines of 'field: problem. Fix: hint'."""
    where = f" in {source}" if source else ""
    lines = [f"{exc.error_count()} problem(s){where}:"]
    for err in exc.errors():
        path = _field_path(tuple(err["loc"]))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = _unknown_key(model, tuple(err["loc"]))
        line = f"  - {path}: {msg}"
        if err["type"] not in {"missing", "value_error", "extra_forbidden"} and "input" in err:
            shown = reprlib.repr(err["input"])  # bounded: a huge or deeply nested value must not be printed whole
            line += f" (got {shown[:60]}{'…' if len(shown) > 60 else ''})"
        hint = _field_hint(model, tuple(err["loc"]))
        if hint and err["type"] != "value_error":
            line += f"\n      Fix: {hint}"
        lines.append(line)
    return "\n".join(lines)
