"""The skill contract every stage implements.

A skill is one self-contained file. Its `Input` and `Output` are its stage's contract from
`microdrama.stages` (shared by every skill of the stage); its own backend knobs live in a strict
`Options` model. `check_inputs()` rejects bad input up front and `run()` does the work. Every call
returns the output *and* a `Usage` record of what it consumed (CPU seconds, characters
synthesised, frames rendered...). Skills never import Prefect or a sibling skill, never compute
money and never write outside `ctx.work_dir`: orchestration belongs to pipelines, pricing to the
ledger, shared code to the core modules.
"""

from __future__ import annotations

import resource
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from microdrama.errors import InputError, format_validation_error
from microdrama.stages import NoOptions

if TYPE_CHECKING:
    from microdrama.config import ProjectConfig

I = TypeVar("I", bound=BaseModel)
O = TypeVar("O", bound=BaseModel)
P = TypeVar("P", bound=BaseModel)


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
    vendor: str | None = None  # the company billing this call (a third-party model API); None for own compute


@dataclass
class SkillContext:
    """Where a skill may write, and the knobs that are not part of its content-defining input."""

    work_dir: Path
    seed: int = 0
    log: Any = None  # a callable(str) for progress messages; pipelines pass Prefect's logger
    # A folder that outlives this call (its private work_dir does not): paid jobs note their provider task
    # ids here before waiting, so a re-run after a crash resumes the same job instead of paying again.
    journal: Path | None = None

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


class Skill(ABC, Generic[I, O, P]):
    """Base class. Subclasses set the class attributes and implement `run`."""

    name: ClassVar[str]  # registry key, e.g. "animatic"
    stage: ClassVar[str]  # screenplay | storyboard | visuals | dubbing | subtitles | compose | ...
    version: ClassVar[str]  # bump when output for the same input changes: it is part of cache keys
    backend: ClassVar[str]  # what actually does the work, e.g. "espeak-ng 1.52", "ffmpeg"
    description: ClassVar[str]
    Input: ClassVar[type[BaseModel]]  # the stage's input contract (microdrama.stages)
    Output: ClassVar[type[BaseModel]]  # the stage's output contract
    Options: ClassVar[type[BaseModel]] = NoOptions  # this backend's own knobs, strict
    # Screenplay writers only: True when writing again is free and deterministic, so the pipeline may re-fit
    # the episode to the voices' measured pace (ScreenplayInput.pace) after a first dub.
    refits_after_dubbing: ClassVar[bool] = False

    def check_inputs(self, inputs: I, options: P) -> None:
        """Raise InputError for input the skill cannot honour. Called before `run`."""

    def backend_for(self, options: P) -> str:
        """The backend that serves this call; skills whose model is chosen by an option override it."""
        return self.backend

    def vendor_for(self, options: P) -> str | None:
        """The company that bills this call (third-party model APIs name it: voucher claims need it)."""
        return None

    def quote(self, inputs: I, options: P) -> dict[str, float]:
        """What this call would consume from a paid third party, before it is made (`microdrama quote`, budget
        caps). Local work (CPU, GPU) is measured afterwards, not quoted: the default is nothing."""
        return {}

    @classmethod
    def options_from_config(cls, config: "ProjectConfig") -> dict[str, Any]:
        """This skill's options in a project config: `options.<skill name>` unless a skill reads a section."""
        return dict(config.options.get(cls.name, {}))

    @abstractmethod
    def run(self, inputs: I, options: P, ctx: SkillContext) -> tuple[O, dict[str, float]]:
        """Do the work; return the output and the skill-specific usage quantities."""

    # -- the one way pipelines and the CLI call a skill ---------------------------------------

    def parse_input(self, data: dict[str, Any]) -> I:
        """Validate a stage input; an unknown or bad key is an error naming the key and the stage."""
        if not isinstance(data, dict):
            raise InputError(f"input of the {self.stage} stage (skill '{self.name}'): expected a mapping of fields, "
                             f"got {type(data).__name__}")
        try:
            return self.Input.model_validate(data)  # type: ignore[return-value]
        except ValidationError as exc:
            raise InputError(format_validation_error(
                exc, self.Input, f"input of the {self.stage} stage (skill '{self.name}')")) from None

    def parse_options(self, data: dict[str, Any] | BaseModel | None) -> P:
        if isinstance(data, self.Options):
            return data  # type: ignore[return-value]
        if isinstance(data, BaseModel):
            data = data.model_dump()
        try:
            return self.Options.model_validate(data or {})  # type: ignore[return-value]
        except ValidationError as exc:
            raise InputError(format_validation_error(exc, self.Options, f"options.{self.name}")) from None

    def __call__(self, inputs: I, ctx: SkillContext, options: P | dict | None = None) -> SkillResult[O]:
        if not isinstance(inputs, self.Input):
            raise InputError(
                f"skill '{self.name}' takes {self.Input.__name__}, got {type(inputs).__name__}"
            )
        options = self.parse_options(options)
        self.check_inputs(inputs, options)
        wall0, cpu0 = time.perf_counter(), _cpu_seconds()
        self.device_used = "cpu"  # GPU skills set the device name they ran on
        output, quantities = self.run(inputs, options, ctx)
        quantities = dict(quantities)
        usage = Usage(
            skill=self.name,
            version=self.version,
            backend=self.backend_for(options),
            wall_seconds=round(time.perf_counter() - wall0, 4),
            cpu_seconds=round(_cpu_seconds() - cpu0, 4),
            gpu_seconds=round(quantities.pop("gpu_seconds", 0.0), 4),
            device=self.device_used,
            quantities=quantities,
            vendor=self.vendor_for(options),
        )
        return SkillResult(output=output, usage=usage)


def _cpu_seconds() -> float:
    """CPU time of this process and of the finished child processes it waited for (ffmpeg)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
