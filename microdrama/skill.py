"""The skill contract every stage implements.

A skill is one self-contained file with a typed `Input`, a typed `Output`, `check_inputs()` that
rejects bad input up front, and `run()` that does the work. Every call returns the output *and*
a `Usage` record of what it consumed (CPU seconds, characters synthesised, frames rendered...).
Skills never import Prefect, never compute money and never write outside `ctx.work_dir`:
orchestration belongs to pipelines, pricing to the ledger.
"""

from __future__ import annotations

import os
import resource
from abc import ABC, abstractmethod
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from microdrama.errors import InputError, format_validation_error

I = TypeVar("I", bound=BaseModel)
O = TypeVar("O", bound=BaseModel)


class Usage(BaseModel):
    """What one skill call consumed, in physical units. The ledger turns this into money."""

    model_config = ConfigDict(extra="forbid")

    skill: str
    version: str
    backend: str
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process plus the child processes (ffmpeg) it waited for
    gpu_seconds: float = 0.0
    device: str = "cpu"
    # Named counters with their unit in the name: tts_characters, frames_rendered, video_seconds,
    # audio_seconds, images, tokens_in, tokens_out, api_calls ...
    quantities: dict[str, float] = Field(default_factory=dict)


@dataclass
class SkillContext:
    """Where a skill may write, and the knobs that are not part of its content-defining input."""

    work_dir: Path
    seed: int = 0
    log: Any = None  # a callable(str) for progress messages; pipelines pass Prefect's logger

    def __post_init__(self) -> None:
        self.work_dir = Path(self.work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        """A path inside the skill's folder; refuses names that would escape it."""
        target = (self.work_dir / name).resolve()
        if self.work_dir.resolve() not in target.parents and target != self.work_dir.resolve():
            raise ValueError(f"skills may only write inside {self.work_dir}, not {name!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def info(self, message: str) -> None:
        if self.log is not None:
            self.log(message)


@dataclass
class SkillResult(Generic[O]):
    output: O
    usage: Usage


class Skill(ABC, Generic[I, O]):
    """Base class. Subclasses set the class attributes and implement `run`."""

    name: ClassVar[str]  # registry key, e.g. "animatic"
    stage: ClassVar[str]  # screenplay | storyboard | visuals | dubbing | subtitles | compose | ...
    version: ClassVar[str]  # bump when output for the same input changes: it is part of cache keys
    backend: ClassVar[str]  # what actually does the work, e.g. "espeak-ng 1.52", "ffmpeg"
    description: ClassVar[str]
    Input: ClassVar[type[BaseModel]]
    Output: ClassVar[type[BaseModel]]

    def check_inputs(self, inputs: I) -> None:
        """Raise InputError for input the skill cannot honour. Called before `run`."""

    def backend_for(self, inputs: I) -> str:
        """The backend that serves this call; skills whose model is chosen by input override it."""
        return self.backend

    @abstractmethod
    def run(self, inputs: I, ctx: SkillContext) -> tuple[O, dict[str, float]]:
        """Do the work; return the output and the skill-specific usage quantities."""

    # -- the one way pipelines and the CLI call a skill ---------------------------------------

    def parse_input(self, data: dict[str, Any]) -> I:
        try:
            return self.Input.model_validate(data)  # type: ignore[return-value]
        except ValidationError as exc:
            raise InputError(format_validation_error(exc, self.Input, f"input of skill '{self.name}'")) from None

    def __call__(self, inputs: I, ctx: SkillContext) -> SkillResult[O]:
        if not isinstance(inputs, self.Input):
            raise InputError(
                f"skill '{self.name}' takes {self.Input.__name__}, got {type(inputs).__name__}"
            )
        self.check_inputs(inputs)
        wall0, cpu0 = time.perf_counter(), _cpu_seconds()
        self.device_used = "cpu"  # GPU skills set the device name they ran on
        output, quantities = self.run(inputs, ctx)
        quantities = dict(quantities)
        usage = Usage(
            skill=self.name,
            version=self.version,
            backend=self.backend_for(inputs),
            wall_seconds=round(time.perf_counter() - wall0, 4),
            cpu_seconds=round(_cpu_seconds() - cpu0, 4),
            gpu_seconds=round(quantities.pop("gpu_seconds", 0.0), 4),
            device=self.device_used,
            quantities=quantities,
        )
        return SkillResult(output=output, usage=usage)


def _cpu_seconds() -> float:
    """CPU time of this process and of the finished child processes it waited for (ffmpeg)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary name then rename, so a crash never leaves a half file under the real name."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def temp_path_for(path: Path) -> Path:
    """A sibling temporary name with the same suffix (tools like ffmpeg pick formats by suffix)."""
    return path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
