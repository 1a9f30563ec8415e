"""The voice-model registry: every speech engine the toolkit can run, with the licences behind it.

Models are data (`assets/models/voices.yaml`), like the image/video registry: for each, the licence of the
code and of the weights, whether commercial use is allowed, the limits a licence sets (revenue, users,
territory, disclosure), the languages, where the weights come from (pip package, local folder, API) and the
skill that runs it — each licence with the URL it was read from, when and how. Models the toolkit does
not run but that people ask for (Fish-Speech, F5-TTS, IndexTTS2, ChatTTS) are recorded too, so their
terms are on file before anyone wires them in.

`voice_model_record(skill, options)` says which entry a dubbing call uses, for the manifest.
`check_voice_licences(config, engines)` refuses, before anything runs, a model whose licence forbids
commercial use when the production is commercial (`commercial: true`, the default: a wrongly refused
research run costs a config line, a wrongly allowed release costs a licence breach); models that are
allowed only within limits, or whose chain of licences is unclear, are returned as notes to print and
keep in the manifest, not refused.
"""

from __future__ import annotations

import fnmatch
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Literal

from pydantic import BaseModel, Field, model_validator

from microdrama.domain import Strict, load_model
from microdrama.env import model_folder
from microdrama.errors import InputError, MicrodramaError, UnknownSkillError

if TYPE_CHECKING:
    from microdrama.config import ProjectConfig

Commercial = Literal["allowed", "conditional", "unclear", "forbidden"]


class LicenceSource(Strict):
    url: str = Field(pattern=r"^https://")
    checked: date = Field(description="the day the entry was recorded from it")
    via: str = Field(min_length=3, description="how it was read; 're-check' = not opened from here")


class VoiceModel(Strict):
    id: str = Field(pattern=r"^[a-z0-9_.-]+$")
    name: str = Field(min_length=1)
    skill: str | None = Field(description="the dubbing skill that runs it; empty = recorded, not supported")
    selects: dict[str, str | None] = Field(default_factory=dict, description="option (dotted) -> shell pattern on "
                                                                              "its value, null = left empty")
    kind: Literal["formant", "neural", "api"]
    languages: list[str] = Field(min_length=1)
    weights_from: str = Field(min_length=1, description="pip package, local folder or API")
    code_licence: str = Field(min_length=1)
    weights_licence: str = Field(min_length=1)
    commercial: Commercial
    limits: list[str] = Field(default_factory=list, description="revenue, user, territory or disclosure limits")
    sources: list[LicenceSource] = Field(min_length=1)
    hub_id: str = Field("", description="local weights: their Hugging Face id, to download on a connected machine")
    modelscope_id: str = Field("", description="local weights: their ModelScope id (the faster source in China)")
    local_path: Path | None = Field(None, description="local weights: the folder, relative to MICRODRAMA_MODELS_DIR")
    version: int | None = Field(None, description="the engine's model generation, where the skill needs it")

    @model_validator(mode="after")
    def _limits_are_said(self) -> "VoiceModel":
        if self.commercial in ("conditional", "unclear") and not self.limits:
            raise ValueError(f"voice model '{self.id}': commercial use is {self.commercial}; list the limits")
        return self

    def folder(self) -> Path | None:
        return None if self.local_path is None else model_folder(self.local_path)

    def record(self) -> dict[str, Any]:
        """What a manifest keeps about the model a line was spoken with."""
        return {"model": self.id, "name": self.name, "code_licence": self.code_licence,
                "weights_licence": self.weights_licence, "commercial": self.commercial, "limits": list(self.limits),
                "weights_from": self.weights_from, "sources": [s.url for s in self.sources]}


class VoiceRegistry(Strict):
    models: list[VoiceModel] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> "VoiceRegistry":
        ids = [m.id for m in self.models]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"voice model ids must be unique: {', '.join(dupes)}")
        return self

    @classmethod
    def load(cls, path: str | Path | None = None) -> "VoiceRegistry":
        from microdrama.assets import ASSETS_DIR

        return load_model(cls, Path(path) if path else ASSETS_DIR / "models" / "voices.yaml")

    def get(self, model_id: str, skill: str | None = None) -> VoiceModel:
        for m in self.models:
            if m.id == model_id and (skill is None or m.skill == skill):
                return m
        known = [m.id for m in self.models if skill is None or m.skill == skill]
        raise InputError(f"no voice model '{model_id}' in the voice registry{f' for {skill}' if skill else ''}; "
                         f"known: {', '.join(known)}")

    def for_skill(self, skill: str) -> list[VoiceModel]:
        return [m for m in self.models if m.skill == skill]

    def match(self, skill: str, options: dict[str, Any]) -> VoiceModel | None:
        """The first entry of `skill` whose `selects` all hold for these options (None: an unregistered model)."""
        for m in self.for_skill(skill):
            if all(_holds(_lookup(options, key), pattern) for key, pattern in m.selects.items()):
                return m
        return None


def _lookup(options: dict[str, Any], dotted: str) -> Any:
    value: Any = options
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _holds(value: Any, pattern: str | None) -> bool:
    if pattern is None:
        return value in (None, "")
    return value not in (None, "") and fnmatch.fnmatchcase(str(value), pattern)


def _as_dict(skill_name: str, options: Any) -> dict[str, Any]:
    """Options as plain data with the skill's defaults filled in (a raw dict that its skill rejects is read as is:
    the skill itself will say what is wrong with it)."""
    if isinstance(options, BaseModel):
        return options.model_dump(mode="json")
    from microdrama.registry import default_registry

    options = dict(options or {})
    try:
        return default_registry().create(skill_name).parse_options(options).model_dump(mode="json")
    except MicrodramaError:  # an unknown skill, or options it refuses: match on what was given
        return options


def voice_model_record(skill_name: str, options: Any = None, registry: VoiceRegistry | None = None) -> dict[str, Any]:
    """The licence, commercial status and limits of the model `skill_name` runs with these options."""
    registry = registry or VoiceRegistry.load()
    model = registry.match(skill_name, _as_dict(skill_name, options))
    if model is None:
        return {"skill": skill_name, "model": None, "name": f"a model of {skill_name} not in the voice registry",
                "code_licence": "unknown", "weights_licence": "unknown", "commercial": "unclear",
                "limits": [(f"{skill_name} is not in assets/models/voices.yaml: record its licence there before a "
                            "commercial release")], "weights_from": "unknown", "sources": []}
    return {"skill": skill_name, **model.record()}


def check_voice_licences(config: "ProjectConfig", engines: Iterable[str] = (),
                         registry: VoiceRegistry | None = None) -> list[str]:
    """Refuse a commercial production a voice model whose licence forbids commercial use; note the others.

    `engines` are the dubbing skills in use beside `stages.dubbing` and the narrator's (characters' own
    `voice.engine`). Returns one note per model allowed only within limits or of unclear licence.
    """
    from microdrama.registry import default_registry

    registry = registry or VoiceRegistry.load()
    names = dict.fromkeys([config.stages.dubbing, config.narrator_voice.engine or config.stages.dubbing, *engines])
    notes = []
    for name in names:
        try:
            options = default_registry().get(name).options_from_config(config)
        except UnknownSkillError:  # check_stages reports it; the record says it is not registered
            options = config.options.get(name, {})
        record = voice_model_record(name, options, registry)
        what = f"{record['name']} ({name})"
        licence = f"code: {record['code_licence']}; weights: {record['weights_licence']}"
        if record["commercial"] == "forbidden" and config.commercial:
            raise InputError(f"{what} may not be used commercially ({licence}); this production is commercial "
                             f"(commercial: true). Choose another voice engine (stages.dubbing or voice.engine), "
                             f"or set commercial: false for research or private work")
        if record["commercial"] in ("conditional", "unclear", "forbidden"):
            notes.append(f"{what}: commercial use {record['commercial']} ({licence}); " + " ".join(record["limits"]))
    return notes
