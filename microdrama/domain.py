"""The domain model: plain pydantic data, no I/O, no Prefect, no torch.

A *brief* (what a creator asks for) becomes a *screenplay* (series bible + one episode of
scenes -> shots -> lines). Dubbing measures each line; the *storyboard* then times every shot
from the measured dialogue and is the timeline that visuals, subtitles and compose all follow.
"""

from __future__ import annotations

import re
from datetime import date
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from microdrama.errors import InputError, format_validation_error

NARRATOR = "narrator"
SLUG = r"^[a-z][a-z0-9_]*$"
Language = Literal["zh", "en"]
# A library asset by id and optional version (microdrama/library): 'char:lin_xia@2', or 'char:lin_xia' for the latest.
ASSET_REF = r"^(char|voice|loc|prop|music|font|corpus):[a-z][a-z0-9_]*(@[1-9][0-9]*)?$"


def _unset(value: object) -> bool:
    """Dumps leave out an unset asset: a screenplay without library assets hashes (and caches) as it always did."""
    return value is None


def _still_required(*names: str):
    """Schema hook: fields a library asset may fill stay required in the JSON Schema, so a model writing a
    screenplay (which cannot see the library) never leaves them out; the `asset` field itself is not shown."""
    def extra(schema: dict) -> None:
        required = schema.get("required", [])
        schema["required"] = [*required, *(n for n in names if n not in required)]
    return extra


class Strict(BaseModel):
    """Unknown keys are errors: a typo in YAML must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Genre(str, Enum):
    revenge = "revenge"  # 逆袭/复仇: the humiliated hero strikes back
    romance = "romance"  # 甜宠/霸总: sweet romance with a twist
    suspense = "suspense"  # 悬疑: a secret and a ticking clock
    family = "family"  # 家庭伦理: in-laws, an inheritance, a hidden child
    workplace = "workplace"  # 职场: a stolen idea, a rival pitch, a layoff list


class ShotSize(str, Enum):
    extreme_wide = "extreme_wide"
    wide = "wide"
    medium = "medium"
    close_up = "close_up"
    extreme_close_up = "extreme_close_up"


class CameraMove(str, Enum):
    static = "static"
    push_in = "push_in"
    pull_out = "pull_out"
    pan_left = "pan_left"
    pan_right = "pan_right"
    tilt_up = "tilt_up"
    tilt_down = "tilt_down"


class Emotion(str, Enum):
    neutral = "neutral"
    angry = "angry"
    sad = "sad"
    happy = "happy"
    fearful = "fearful"
    surprised = "surprised"
    cold = "cold"
    tender = "tender"


class TimeOfDay(str, Enum):
    day = "day"
    dusk = "dusk"
    night = "night"
    interior = "interior"


class VoiceConsent(Strict):
    """The speaker's permission to clone their voice: who, for what, until when, and the signed proof."""

    speaker: str = Field(min_length=1, description="the person whose voice is cloned")
    scope: str = Field(min_length=1, description="what the consent covers, e.g. 'series 逆袭千金, all platforms'")
    expires: date = Field(description="last day the consent is valid, YYYY-MM-DD")
    evidence_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the signed consent file "
                                                                         "(`microdrama ledger add --evidence` keeps it)")


class Voice(Strict):
    """How a character sounds. Backends map this to their own voices (espeak-ng variants, TTS ids)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, json_schema_extra=_still_required("gender"))

    gender: Literal["female", "male"] = Field(None, validate_default=False,  # type: ignore[assignment]
                                              description="'female' or 'male'; picks the voice family")
    variant: int = Field(1, ge=1, le=7, description="1-7; characters of the same gender need different variants")
    pitch: int = Field(50, ge=0, le=99, description="espeak-style pitch 0-99 (50 is neutral)")
    rate: int = Field(165, ge=80, le=400, description="speaking rate in words per minute, 80-400")
    engine: str | None = Field(None, description="the dubbing skill for this voice, e.g. dubbing-piper; "
                                                 "empty = the config's stages.dubbing")
    voice_id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
                                 description="the engine's own voice name, e.g. Kokoro's 'zf_xiaobei'; empty = "
                                             "picked by the engine from gender and variant")
    reference_clip: Path | None = Field(None, description="a recording to clone the voice from, for engines that "
                                                          "clone; needs `consent`")
    consent: VoiceConsent | None = Field(None, description="the speaker's consent, required with reference_clip")
    asset: SkipJsonSchema[str | None] = Field(None, pattern=ASSET_REF, exclude_if=_unset,
                                              description="a library voice, e.g. 'voice:warm_female@1': fills what is "
                                                          "left out here (`microdrama assets`)")

    @model_validator(mode="after")
    def _cloning_needs_consent(self) -> "Voice":
        if self.gender is None and self.asset is None:
            raise ValueError("gender is required ('female' or 'male'), unless asset names a library voice")
        if self.reference_clip is not None:
            if self.consent is None:
                raise ValueError("a cloned voice (reference_clip) needs the speaker's consent: add consent: "
                                 "{speaker, scope, expires, evidence_sha256}")
            if self.consent.expires < date.today():
                raise ValueError(f"the consent of {self.consent.speaker} expired on {self.consent.expires}; "
                                 "renew it before using the cloned voice")
        return self


def printable(value: str, fix: str) -> str:
    """Refuse line breaks and control characters (NUL, tabs…) in text that is spoken, drawn or filed."""
    bad = sorted({f"U+{ord(ch):04X}" for ch in value if ord(ch) < 32 or ord(ch) == 127})
    if bad:
        raise ValueError(f"contains control characters ({', '.join(bad)}); {fix}")
    return value


class Character(Strict):
    model_config = ConfigDict(extra="forbid", validate_assignment=True,
                              json_schema_extra=_still_required("look", "voice"))

    id: str = Field(pattern=SLUG, description="a lowercase slug such as 'lin_xia' used by shots and lines")
    name: str = Field(min_length=1, max_length=40, description="the display name, e.g. '林夏'")
    role: str = Field("supporting", description="e.g. protagonist, antagonist, ally")
    look: str = Field(None, min_length=1, validate_default=False,  # type: ignore[assignment]
                      description="a look description used in visual prompts (hair, clothes, age)")
    voice: Voice = Field(None, validate_default=False,  # type: ignore[assignment]
                         description="voice settings: gender, variant, pitch, rate")
    color: str | None = Field(
        None, pattern=r"^#[0-9a-fA-F]{6}$", description="placeholder colour in animatics as '#rrggbb'"
    )
    asset: SkipJsonSchema[str | None] = Field(None, pattern=ASSET_REF, exclude_if=_unset,
                                              description="a library character, e.g. 'char:lin_xia@2': fills look "
                                                          "and voice where they are left out")

    @model_validator(mode="after")
    def _look_and_voice(self) -> "Character":
        missing = [f for f in ("look", "voice") if getattr(self, f) is None]
        if missing and self.asset is None:
            raise ValueError(f"{' and '.join(missing)} required: write {'them' if len(missing) > 1 else 'it'} "
                             "here, or name a library character with asset: char:ID@VERSION")
        return self

    @field_validator("name")
    @classmethod
    def _printable_name(cls, name: str) -> str:
        return printable(name, "write the name on one line")


class SeriesBible(Strict):
    title: str = Field(min_length=1, max_length=60, description="the series title")
    logline: str = Field(min_length=1, description="one sentence that sells the series")
    genre: Genre = Field(description="one of: " + ", ".join(g.value for g in Genre))
    language: Language = Field(description="'zh' (Mandarin) or 'en' (English)")
    setting: str = Field("", description="where and when the story happens")
    characters: list[Character] = Field(min_length=1, description="everyone who speaks or appears")

    @field_validator("title", "logline")
    @classmethod
    def _printable_bible(cls, value: str) -> str:
        return printable(value, "write it on one line")

    @field_validator("characters")
    @classmethod
    def _unique_ids(cls, chars: list[Character]) -> list[Character]:
        seen: set[str] = set()
        for c in chars:
            if c.id == NARRATOR:
                raise ValueError(f"'{NARRATOR}' is reserved for narration; give the character another id")
            if c.id in seen:
                raise ValueError(f"character id '{c.id}' appears twice; ids must be unique")
            seen.add(c.id)
        return chars

    def character(self, char_id: str) -> Character:
        for c in self.characters:
            if c.id == char_id:
                return c
        raise KeyError(char_id)


class Line(Strict):
    speaker: str = Field(description=f"a character id from series.characters, or '{NARRATOR}'")
    text: str = Field(min_length=1, max_length=120, description="what is said; keep lines short (<= 120 chars)")
    emotion: Emotion = Field(Emotion.neutral, description="one of: " + ", ".join(e.value for e in Emotion))

    @field_validator("text")
    @classmethod
    def _one_row_of_speech(cls, text: str) -> str:
        return printable(text, "a line is spoken as one piece: remove line breaks, or split it into two lines")


class Shot(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$", description="a short id such as 's01', unique in the episode")
    shot_size: ShotSize = Field(description="one of: " + ", ".join(s.value for s in ShotSize))
    camera_move: CameraMove = Field(CameraMove.static, description="one of: " + ", ".join(m.value for m in CameraMove))
    visual_prompt: str = Field(min_length=1, description="what the camera sees, for image/video models")
    characters: list[str] = Field(default_factory=list, description="ids of characters on screen")
    lines: list[Line] = Field(default_factory=list, description="dialogue or narration spoken over this shot")
    min_duration_s: float = Field(2.0, ge=0.5, le=20, description="shortest on-screen time in seconds (0.5-20)")

    def line_id(self, index: int) -> str:
        return f"{self.id}-l{index + 1}"


class Scene(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$", description="a short id such as 'sc1'")
    location: str = Field(min_length=1, description="where the scene happens")
    time_of_day: TimeOfDay = Field(TimeOfDay.day, description="one of: day, dusk, night, interior")
    description: str = Field("", description="what happens in the scene")
    shots: list[Shot] = Field(min_length=1, description="at least one shot")


class Episode(Strict):
    number: int = Field(ge=1, description="episode number, starting at 1")
    title: str = Field(min_length=1, description="episode title")
    synopsis: str = Field("", description="two or three sentences")
    hook: str = Field(description="what grabs the viewer in the first 3 seconds")
    cliffhanger: str = Field(description="the open question the episode ends on")
    scenes: list[Scene] = Field(min_length=1, description="at least one scene")


class SpokenLine(BaseModel):
    """A line with its stable id and the shot it belongs to (derived, never stored)."""

    id: str
    shot_id: str
    speaker: str
    text: str
    emotion: Emotion


class Screenplay(Strict):
    series: SeriesBible
    episode: Episode

    @model_validator(mode="after")
    def _references_resolve(self) -> "Screenplay":
        known = {c.id for c in self.series.characters}
        shot_ids: set[str] = set()
        for si, scene in enumerate(self.episode.scenes):
            for hi, shot in enumerate(scene.shots):
                where = f"episode.scenes[{si}].shots[{hi}]"
                if shot.id in shot_ids:
                    raise ValueError(f"{where}.id: shot id '{shot.id}' is used twice; make shot ids unique")
                shot_ids.add(shot.id)
                for cid in shot.characters:
                    if cid not in known:
                        raise ValueError(
                            f"{where}.characters: '{cid}' is not in series.characters "
                            f"(known: {', '.join(sorted(known))}); add it there or fix the id"
                        )
                for li, line in enumerate(shot.lines):
                    if line.speaker != NARRATOR and line.speaker not in known:
                        raise ValueError(
                            f"{where}.lines[{li}].speaker: '{line.speaker}' is not a character "
                            f"(known: {', '.join(sorted(known))}, or '{NARRATOR}'); add it or fix the name"
                        )
        return self

    def shots(self) -> Iterator[tuple[Scene, Shot]]:
        for scene in self.episode.scenes:
            for shot in scene.shots:
                yield scene, shot

    def spoken_lines(self) -> list[SpokenLine]:
        return [
            SpokenLine(id=shot.line_id(i), shot_id=shot.id, speaker=ln.speaker, text=ln.text, emotion=ln.emotion)
            for _, shot in self.shots()
            for i, ln in enumerate(shot.lines)
        ]

    def line(self, line_id: str) -> SpokenLine:
        for ln in self.spoken_lines():
            if ln.id == line_id:
                return ln
        raise KeyError(f"no line '{line_id}' in episode {self.episode.number}")

    def voice_of(self, speaker: str, narrator: Voice) -> Voice:
        """The voice a line is spoken in: the character's own, or the narrator's for narration."""
        return narrator if speaker == NARRATOR else self.series.character(speaker).voice


class CharacterBrief(Strict):
    name: str = Field(min_length=1, max_length=40, description="the character's name")
    role: Literal["protagonist", "antagonist", "ally"] = Field(
        description="protagonist, antagonist or ally: the genre templates cast these three roles"
    )
    gender: Literal["female", "male"] = Field(description="'female' or 'male' (picks the voice)")
    look: str = Field("", description="optional look description (hair, clothes, age)")
    asset: SkipJsonSchema[str | None] = Field(None, pattern=ASSET_REF, exclude_if=_unset,
                                              description="a library character, e.g. 'char:lin_xia@2': fills the "
                                                          "look when it is left empty")

    @field_validator("name", "look")
    @classmethod
    def _printable_character(cls, value: str) -> str:
        return printable(value, "write it on one line")


class ProductBrief(Strict):
    """The product a brand episode places (定制剧/品牌剧): named in the dialogue, priced in the call to action."""

    name: str = Field(min_length=1, max_length=30, description="the product's name as said on screen, e.g. '暖手杯'")
    selling_point: str = Field(min_length=1, max_length=40, description="one benefit in a few words, e.g. '保温十二小时'")
    price: str = Field("", max_length=20, description="as said on screen, e.g. '¥199' or '$29'")
    call_to_action: str = Field("", max_length=30, description="the closing ask, e.g. '点击下方链接'; empty = a default")

    @field_validator("name", "selling_point", "price", "call_to_action")
    @classmethod
    def _printable_product(cls, value: str) -> str:
        return printable(value, "write it on one line")


class Previously(Strict):
    """Where the last episode stopped, so this one opens on it (a series fills this in)."""

    episode: int = Field(ge=1, description="the previous episode's number")
    cliffhanger: str = Field(min_length=1, description="the open question it ended on")
    last_scene: str = Field("", description="where it ended")


class Brief(Strict):
    """What a creator asks for: a few lines that the screenplay writer expands into an episode."""

    title: str = Field(min_length=1, max_length=60, description="the series title")
    premise: str = Field(min_length=4, max_length=300,
                         description="one or two sentences: who wants what, and what stands in the way")
    genre: Genre = Field(description="one of: " + ", ".join(g.value for g in Genre))
    language: Language = Field("zh", description="'zh' (Mandarin) or 'en' (English)")
    setting: str = Field("", max_length=40, description="where the story happens, e.g. '上海陆家嘴'")
    locations: list[str] = Field(default_factory=list, max_length=3,
                                 description="up to 3 places in this order: the main place, a private place, an "
                                             "outside place, e.g. ['茶楼', '后厨', '弄堂口']; empty = the genre's")
    episode: int = Field(1, ge=1, le=200, description="which episode to write (1-200)")
    target_seconds: int = Field(60, ge=20, le=180, description="episode length to aim for, 20-180 seconds")
    characters: list[CharacterBrief] = Field(
        default_factory=list, description="the cast: a protagonist, and optionally an antagonist and an ally; "
                                          "empty = the genre's default three"
    )
    product: ProductBrief | None = Field(None, description="for brand episodes: the product to place and sell")
    previously: Previously | None = Field(None, description="where the last episode stopped (series fill it in)")

    @field_validator("title", "premise", "setting")
    @classmethod
    def _printable_brief(cls, value: str) -> str:
        return printable(value, "write it on one line")

    @field_validator("locations")
    @classmethod
    def _places(cls, places: list[str]) -> list[str]:
        for place in places:
            printable(place, "write each place on one line")
            if not place.strip() or len(place) > 30:
                raise ValueError("each location is a short place name (1-30 characters), e.g. '茶楼'")
        return places

    @field_validator("characters")
    @classmethod
    def _one_per_role(cls, chars: list[CharacterBrief]) -> list[CharacterBrief]:
        roles = [c.role for c in chars]
        for role in set(roles):
            if roles.count(role) > 1:
                raise ValueError(f"role '{role}' is given {roles.count(role)} times; give each role once")
        if chars and "protagonist" not in roles:
            raise ValueError("the cast needs a protagonist: add one character with role: protagonist")
        return chars


# ---- The storyboard: the timed shot list every later stage follows ---------------------------


class LineCue(Strict):
    line_id: str
    speaker: str
    text: str
    emotion: Emotion
    start_s: float = Field(ge=0, description="in the episode")
    end_s: float = Field(gt=0, description="in the episode")
    shot_start_s: float = Field(0.0, ge=0, description="from the start of its shot (exact, not derived by subtraction)")
    shot_end_s: float = Field(0.0, ge=0, description="from the start of its shot")


class TimedShot(Strict):
    shot: Shot
    scene_id: str
    location: str
    time_of_day: TimeOfDay
    start_s: float = Field(ge=0)
    duration_s: float = Field(gt=0)
    frames: int = Field(gt=0)
    cues: list[LineCue] = Field(default_factory=list)


class Storyboard(Strict):
    episode_number: int
    title: str
    language: Language
    fps: int = Field(gt=0)
    shots: list[TimedShot] = Field(min_length=1)

    @property
    def duration_s(self) -> float:
        return sum(s.frames for s in self.shots) / self.fps

    def cues(self) -> list[LineCue]:
        return [c for s in self.shots for c in s.cues]

    def shot(self, shot_id: str) -> TimedShot:
        for ts in self.shots:
            if ts.shot.id == shot_id:
                return ts
        raise KeyError(f"no shot '{shot_id}' in the storyboard of episode {self.episode_number}")


def shot_prompt(shot: TimedShot, characters: list[Character]) -> str:
    """What an image or video model is asked for a shot: the shot, every on-screen character's look, and
    no text in the picture (subtitles and marks are added later)."""
    looks = "; ".join(f"{c.name}: {c.look}" for c in characters)
    return f"{shot.shot.visual_prompt}. {looks}. Vertical 9:16 frame, cinematic micro-drama, no text, no subtitles."


def estimate_speech_seconds(text: str, language: Language) -> float:
    """Rough speaking time, used to fit a target length before real dubbing is measured."""
    if language == "zh":
        return 0.3 + len(text) / 4.0
    return 0.3 + len(text.split()) / 2.6


# The storyboard's default pauses (StoryboardInput): silence before a shot's first line, between
# lines, and the hold after the last one.
LEAD_IN_S, GAP_S, TAIL_S = 0.2, 0.25, 0.4
LENGTH_TOLERANCE = 0.15  # a written episode lands within ±15% of its brief's target_seconds


def estimate_shot_seconds(shot: Shot, language: Language, pace: float = 1.0,
                          line_seconds: dict[str, float] | None = None) -> float:
    """A shot's on-screen time as the storyboard will time it: from measured line lengths where given
    (`line_seconds`, by line id), else from the text; `pace` scales text estimates to the voices in use
    (measured seconds per estimated second)."""
    if not shot.lines:
        return shot.min_duration_s
    measured = line_seconds or {}
    speech = sum(measured.get(shot.line_id(i), estimate_speech_seconds(ln.text, language) * pace)
                 for i, ln in enumerate(shot.lines))
    return max(shot.min_duration_s, LEAD_IN_S + speech + GAP_S * (len(shot.lines) - 1) + TAIL_S)


def estimate_episode_seconds(screenplay: "Screenplay", pace: float = 1.0,
                             line_seconds: dict[str, float] | None = None) -> float:
    """The episode's length as the storyboard will time it: what writers fit to `target_seconds`."""
    lang = screenplay.series.language
    return sum(estimate_shot_seconds(shot, lang, pace, line_seconds) for _, shot in screenplay.shots())


def measured_pace(screenplay: "Screenplay", line_seconds: dict[str, float]) -> float:
    """How much longer (>1) or shorter the voices speak than the text estimate: a writer re-fits with it."""
    lang = screenplay.series.language
    estimated = sum(estimate_speech_seconds(ln.text, lang) for ln in screenplay.spoken_lines()
                    if ln.id in line_seconds)
    spoken = sum(line_seconds[ln.id] for ln in screenplay.spoken_lines() if ln.id in line_seconds)
    return spoken / estimated if estimated > 0 else 1.0


# ---- Loading and saving, with teaching errors -------------------------------------------------

M = TypeVar("M", bound=BaseModel)


MAX_INPUT_BYTES = 2 * 1024 * 1024  # briefs, screenplays and configs are kilobytes; more is the wrong file


class _StrictYamlLoader(yaml.SafeLoader):
    """YAML without aliases (a few hundred bytes of `&a [*a, *a …]` expand to gigabytes) and without
    duplicate keys (the second one would silently win)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError("while reading", None, "aliases (*name) are not accepted; write the value "
                                       "out in full", event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.MarkedYAMLError("while reading a mapping", node.start_mark,
                                           f"the key {key!r} appears twice; keep one", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def parse_yaml(text: str, source: str | Path) -> object:
    """YAML or JSON text -> data, with aliases and duplicate keys refused; errors name the file."""
    try:
        return yaml.load(text, Loader=_StrictYamlLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise InputError(f"{source} is not valid YAML/JSON: {exc}") from None


def read_text_file(path: Path, missing: str, max_bytes: int = MAX_INPUT_BYTES) -> str:
    """A UTF-8 text file; anything else (too big, another encoding, not a file) is a clear error."""
    if not path.is_file():
        raise InputError(f"{path}: no such file. {missing}")
    size = path.stat().st_size
    if size > max_bytes:
        raise InputError(f"{path} is {size / 1e6:.1f} MB, more than the {max_bytes / 1e6:.0f} MB expected here. "
                         "Is this the right file?")
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")  # saved as UTF-16 by some Windows editors: the BOM says so
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        hint = ""
        try:
            raw.decode("gb18030")
            hint = " It looks like GBK/GB18030 (a Chinese Windows default)."
        except UnicodeDecodeError:
            pass
        raise InputError(f"{path} is not UTF-8 (byte {exc.start}).{hint} Save it as UTF-8 "
                         "(in most editors: Save As → Encoding: UTF-8) and run again.") from None


def read_yaml(path: str | Path, missing: str = "Check the path.") -> object:
    """A user's YAML or JSON file, read with every guard above."""
    return parse_yaml(read_text_file(Path(path), missing), path)


def load_model(model: type[M], path: str | Path) -> M:
    """Load a YAML or JSON file into `model`; any problem becomes an InputError naming the field."""
    path = Path(path)
    from microdrama.assets import ASSETS_DIR

    if path.resolve().is_relative_to(ASSETS_DIR):  # read-only data parsed once per process: a copy per caller
        return _load_bundled(model, path.resolve()).model_copy(deep=True)
    return parse_model(model, read_yaml(path, f"Check the path (relative to {Path.cwd()})."), source=path)


@lru_cache(maxsize=64)
def _load_bundled(model: type[M], path: Path) -> M:
    """A bundled asset (voices, rate card, presets): a render reads some of them several times, and their
    pure-Python YAML parse (with line numbers for errors) costs tens of milliseconds each."""
    return parse_model(model, read_yaml(path), source=path)


def parse_model(model: type[M], data: object, source: str | Path | None = None) -> M:
    if not isinstance(data, dict):
        raise InputError(f"{source or model.__name__}: expected a mapping of fields, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputError(format_validation_error(exc, model, source)) from None


def read_source(path: str | Path) -> Brief | Screenplay:
    """A file holding `series:` and `episode:` is a screenplay; anything else must be a brief."""
    path = Path(path)
    data = read_yaml(path, "Pass a brief or screenplay YAML/JSON.")
    is_screenplay = isinstance(data, dict) and "series" in data and "episode" in data
    return parse_model(Screenplay if is_screenplay else Brief, data, source=path)


def dump_yaml(model: BaseModel) -> str:
    """YAML a person edits: empty optional fields are left out."""
    return yaml.safe_dump(model.model_dump(mode="json", exclude_none=True), allow_unicode=True, sort_keys=False,
                          width=100)


def slugify(text: str, fallback: str = "item") -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return slug if slug and slug[0].isalpha() else (f"{fallback}_{slug}" if slug else fallback)


def folder_name(title: str, fallback: str = "series") -> str:
    """A readable folder name from a title in any script ('寻味上海' stays 寻味上海, 'My Drama!' becomes
    my_drama); a title without a single letter or digit gets a short hash, never a name shared by others."""
    import hashlib

    name = re.sub(r"\W+", "_", title.strip().lower()).strip("_")[:60]
    return name or f"{fallback}_{hashlib.sha256(title.encode('utf-8')).hexdigest()[:8]}"
