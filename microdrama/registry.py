"""The skill registry: built-in skills plus any installed skill pack.

A skill pack is a normal Python package that declares, in its pyproject.toml:

    [project.entry-points."microdrama.skills"]
    my_skill = "my_pack.my_skill:MySkill"

After `pip install my-pack`, `microdrama skills list` shows it and pipelines can select it by name.
A duplicate name is an error (two packs must not silently shadow each other), and so is an
unknown one (with the closest names suggested).
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points

from microdrama.errors import MicrodramaError, UnknownSkillError
from microdrama.skill import Skill

ENTRY_POINT_GROUP = "microdrama.skills"

# Built-in skills, as "module:Class" so importing the registry stays cheap.
BUILTIN_SKILLS = [
    "microdrama.skills.screenplay_rules:RuleBasedScreenplayWriter",
    "microdrama.skills.screenplay_llm:LLMScreenplayWriter",
    "microdrama.skills.localize_llm:LLMLocalizer",
    "microdrama.skills.transcribe_whisper:WhisperTranscriber",
    "microdrama.skills.storyboard:StoryboardSkill",
    "microdrama.skills.animatic:AnimaticRenderer",
    "microdrama.skills.video_diffusers:DiffusersVideoRenderer",
    "microdrama.skills.keyframe_diffusers:DiffusersKeyframe",
    "microdrama.skills.dubbing_espeak:EspeakDubbing",
    "microdrama.skills.dubbing_piper:PiperDubbing",
    "microdrama.skills.dubbing_kokoro:KokoroDubbing",
    "microdrama.skills.dubbing_cosyvoice:CosyVoiceDubbing",
    "microdrama.skills.subtitles:SubtitleWriter",
    "microdrama.skills.compose_ffmpeg:FfmpegComposer",
    "microdrama.skills.compose_moviepy:MoviepyComposer",
    "microdrama.skills.finish_ffmpeg:FfmpegShotFinisher",
    "microdrama.skills.mix_ffmpeg:FfmpegMixer",
    "microdrama.skills.assemble_ffmpeg:FfmpegAssembler",
    "microdrama.skills.continuity_rules:RuleContinuityCheck",
    "microdrama.skills.continuity_llm:LLMContinuityCheck",
    "microdrama.skills.video_cloud:CloudVideoRenderer",
    "microdrama.skills.keyframe_cloud:CloudKeyframe",
    "microdrama.skills.dubbing_cloud:CloudDubbing",
]


class DuplicateSkillError(MicrodramaError):
    pass


class SkillRegistry:
    def __init__(self) -> None:
        self._skills: dict[str, type[Skill]] = {}
        self._origin: dict[str, str] = {}

    def register(self, skill_cls: type[Skill], origin: str = "code") -> type[Skill]:
        for attr in ("name", "stage", "version", "backend", "description", "Input", "Output"):
            if not hasattr(skill_cls, attr):
                raise MicrodramaError(f"skill class {skill_cls.__qualname__} ({origin}) lacks the attribute '{attr}'")
        name = skill_cls.name
        if name in self._skills and self._skills[name] is not skill_cls:
            raise DuplicateSkillError(
                f"two skills are named '{name}': one from {self._origin[name]}, one from {origin}. "
                "Uninstall one of the packs or rename the skill."
            )
        self._skills[name] = skill_cls
        self._origin[name] = origin
        return skill_cls

    def get(self, name: str) -> type[Skill]:
        try:
            return self._skills[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._skills, n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise UnknownSkillError(
                f"no skill named '{name}'.{hint} `microdrama skills list` shows the installed skills."
            ) from None

    def create(self, name: str) -> Skill:
        return self.get(name)()

    def names(self, stage: str | None = None) -> list[str]:
        return sorted(n for n, cls in self._skills.items() if stage is None or cls.stage == stage)

    def origin(self, name: str) -> str:
        return self._origin[name]


def _load(spec: str) -> type[Skill]:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def build_default_registry(include_entry_points: bool = True) -> SkillRegistry:
    registry = SkillRegistry()
    for spec in BUILTIN_SKILLS:
        registry.register(_load(spec), origin="microdrama (built-in)")
    if include_entry_points:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                cls = ep.load()
            except Exception as exc:  # a broken pack must say which pack is broken
                raise MicrodramaError(f"skill pack entry point '{ep.name}' ({ep.value}) failed to load: {exc}") from exc
            dist = ep.dist.name if ep.dist else "unknown package"
            registry.register(cls, origin=f"package '{dist}'")
    return registry


_default: SkillRegistry | None = None


def default_registry() -> SkillRegistry:
    global _default
    if _default is None:
        _default = build_default_registry()
    return _default
