"""The offline default screenplay writer: beats picked from genre libraries and filled from the brief.

It is honest about what it is: a rule-based writer, no language model. What it does do is follow
the brief: the cast as given (names, roles, looks, and no one the brief did not ask for), the
setting and locations, the premise spoken as the opening narration, a product placed and sold
for brand briefs, the language. Beats (YAML in `microdrama/assets/screenplay_templates/`) are
picked with a seed drawn from the brief, so two briefs never get the same episode, and episodes
of one series walk through the pool without repeating a beat until it runs out; episode N+1
opens on episode N's cliffhanger. Rising beats are added until the estimated length reaches
`target_seconds`; the pipeline re-fits once with the voices' measured pace (`pace`), so the cut
lands within ±15% of the target. LLM screenwriter agents produce the same `Screenplay` type.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from microdrama.assets import ASSETS_DIR
from microdrama.domain import (
    LENGTH_TOLERANCE,
    NARRATOR,
    Brief,
    Character,
    Episode,
    Language,
    Line,
    Scene,
    Screenplay,
    SeriesBible,
    Shot,
    Voice,
    estimate_shot_seconds,
    slugify,
)
from microdrama.errors import InputError
from microdrama.skill import Skill, SkillContext
from microdrama.stages import NoOptions, ScreenplayInput

TEMPLATE_DIR = ASSETS_DIR / "screenplay_templates"
ROLES = ("protagonist", "antagonist", "ally")
SLOTS = ("hook", "rising", "turn", "cliffhanger")
HOOK_WINDOW_S = 3.0
MAX_HOLD_S = 8.0  # when the beat pool runs out, shots are held longer, up to this
# Where a premise is cut into narration lines that each fit a subtitle event.
_CLAUSE_END = re.compile(r"(?<=[，。；！？,;.!?])")
MAX_NARRATION_CHARS = {"zh": 22, "en": 90}
DEFAULT_CTA = {"zh": "点击下方链接，马上拥有", "en": "Tap the link below to get yours"}
# The closing packshot line of a brand episode, varied by episode so a series does not repeat itself.
PACKSHOT_LINES = {
    "zh": ["{name}，{point}{price}。{cta}！", "{point}，就选{name}{price}。{cta}！", "还在等什么？{name}{price}，{cta}！"],
    "en": ["{name}: {point}{price}. {cta}!", "{point}? That is {name}{price}. {cta}!", "Why wait? {name}{price}. {cta}!"],
}


def known_genres() -> list[str]:
    return sorted(p.stem for p in TEMPLATE_DIR.glob("*.yaml") if not p.stem.startswith("_"))


def load_template(genre: str) -> dict[str, Any]:
    path = TEMPLATE_DIR / f"{genre}.yaml"
    if genre.startswith("_") or not path.is_file():
        raise InputError(f"brief.genre: no template for '{genre}'. Known genres: {', '.join(known_genres())}")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _shared_pool(name: str) -> list[dict[str, Any]]:
    """Beats that fit any genre (`_common.yaml`) and product placements (`_product.yaml`)."""
    return yaml.safe_load((TEMPLATE_DIR / f"_{name}.yaml").read_text(encoding="utf-8"))["beats"]


@dataclass
class Beat:
    """One dramatic unit of 1-3 shots at one place, as written in a template."""

    key: str  # e.g. "rising/3": stable across runs, recorded in the screenplay's scene descriptions
    needs: list[str]
    place: int
    time: str
    summary: dict[str, str]
    shots: list[dict[str, Any]]
    question: dict[str, str] | None = None
    followup: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def parse(cls, key: str, raw: dict[str, Any]) -> "Beat":
        return cls(key=key, needs=list(raw.get("needs", [])), place=int(raw.get("place", 0)),
                   time=raw.get("time", "day"), summary=raw["summary"], shots=raw["shots"],
                   question=raw.get("question"), followup=raw.get("followup", []))


@dataclass
class Placed:
    """A beat as it lands in this episode: its shots, where, and which template beat it came from."""

    beat: Beat
    shots: list[Shot]
    place: int


class RuleBasedScreenplayWriter(Skill[ScreenplayInput, Screenplay, NoOptions]):
    name = "screenplay-rules"
    stage = "screenplay"
    version = "2"
    backend = "rule-based beat library (offline, no LLM)"
    description = ("Writes an episode from a brief with genre beat libraries: the brief's cast, places, premise and "
                   "product; hook in 3 s, cliffhanger last, fitted to the target length; series episodes chain.")
    Input = ScreenplayInput
    Output = Screenplay
    refits_after_dubbing = True  # free and deterministic: the pipeline may re-fit to the measured voices

    def check_inputs(self, inputs: ScreenplayInput, options: NoOptions) -> None:
        load_template(inputs.brief.genre.value)  # raises a teaching error for unknown genres

    def run(self, inputs: ScreenplayInput, options: NoOptions, ctx: SkillContext) -> tuple[Screenplay, dict[str, float]]:
        brief = inputs.brief
        writer = _EpisodeWriter(brief, load_template(brief.genre.value), inputs.pace)
        screenplay = writer.write(brief.episode)
        _check_discipline(screenplay)
        return screenplay, {"shots_written": float(sum(1 for _ in screenplay.shots())),
                            "lines_written": float(len(screenplay.spoken_lines())),
                            "estimated_seconds": round(writer.estimate(screenplay), 2)}


class _EpisodeWriter:
    """Everything one brief decides: cast, places, the seeded beat order; then one episode at a time."""

    def __init__(self, brief: Brief, template: dict[str, Any], pace: float) -> None:
        self.brief, self.template, self.pace = brief, template, pace
        self.lang: Language = brief.language
        self.cast = _cast(brief, template)
        self.setting = brief.setting or template["setting"][self.lang]
        self.places = _places(brief, template)
        # The series seed leaves out the episode number: every episode of a series sees the same beat order.
        self.seed = _seed(brief.genre.value, brief.title, brief.premise, self.setting, *self.places,
                          *(f"{r}={c.name}" for r, c in sorted(self.cast.items())))
        self.pools = {slot: self._order(slot, [Beat.parse(f"{slot}/{i}", raw)
                                              for i, raw in enumerate(template["beats"][slot])])
                      for slot in SLOTS}
        self.pools["rising"] += self._order("common", [Beat.parse(f"common/{i}", raw)
                                                       for i, raw in enumerate(_shared_pool("common"))])
        self.product_beats = self._order("product", [Beat.parse(f"product/{i}", raw)
                                                    for i, raw in enumerate(_shared_pool("product"))])
        empty = [slot for slot in SLOTS if not self.pools[slot]]
        if empty:
            raise InputError(f"template {brief.genre.value}: no {', '.join(empty)} beat fits a cast of "
                             f"{', '.join(self.cast)}; add a beat with `needs: []`")

    # -- choosing ---------------------------------------------------------------------------------

    def _order(self, slot: str, beats: list[Beat]) -> list[Beat]:
        usable = [b for b in beats if set(b.needs) <= set(self.cast)]
        random.Random(_seed(self.seed, slot)).shuffle(usable)
        return usable

    def _pick(self, slot: str, episode: int) -> Beat:
        pool = self.pools[slot]
        return pool[(episode - 1) % len(pool)]

    def _rising_from(self, episode: int) -> list[Beat]:
        """Rising beats in the order this episode may use them: episodes of a series start further along."""
        pool = self.pools["rising"]
        start = ((episode - 1) * self._stride()) % len(pool)
        return pool[start:] + pool[:start]

    def _stride(self) -> int:
        """About how many rising beats one episode of this length uses (opening and ending take ~25 s)."""
        return max(1, round((self.brief.target_seconds - 25) / 9))

    # -- writing ----------------------------------------------------------------------------------

    def write(self, episode: int) -> Screenplay:
        opening = self._opening(episode)
        cliff = self._pick("cliffhanger", episode)
        closing = [self._place(self._pick("turn", episode)), self._place(cliff)]
        if self.brief.product:
            closing.append(self._packshot(cliff, episode))
        product = [self._place(self.product_beats[(episode - 1) % len(self.product_beats)])] \
            if self.brief.product and self.product_beats else []

        target = float(self.brief.target_seconds)
        rising: list[Placed] = []
        candidates, window = self._rising_from(episode), self._stride()
        while candidates and self._length(opening + rising + product + closing) < target:
            # Next in this episode's share of the order, but a beat at a place the episode has not been to yet
            # comes first: every location the brief names should be seen. Looking no further than this
            # episode's share keeps episodes of a series from taking each other's beats.
            seen = {p.place for p in opening + rising + product + closing}
            beat = next((b for b in candidates[:window] if b.place not in seen), candidates[0])
            window -= 1
            candidates.remove(beat)
            rising.append(self._place(beat))
        # The last beat may overshoot: keep whichever of with/without lands nearer the target.
        if rising:
            with_last = self._length(opening + rising + product + closing)
            without = self._length(opening + rising[:-1] + product + closing)
            if abs(without - target) < abs(with_last - target):
                rising.pop()
        middle = rising[:1] + product + rising[1:]
        placed = opening + middle + closing
        placed = self._hold_to_length(placed, target)
        return self._assemble(episode, placed, cliff)

    def _opening(self, episode: int) -> list[Placed]:
        if episode == 1 and self.brief.previously is None:
            # The hook, then the premise spoken over the main place: where the story lives.
            hook = self._place(self.pools["hook"][0])
            return [hook, Placed(beat=hook.beat, place=0, shots=[self._premise_shot(0)])]
        # Episode N+1 opens on episode N's cliffhanger: a recap at the same place, then its follow-up.
        previous = self._pick("cliffhanger", episode - 1) if episode > 1 else None
        question = (self.brief.previously.cliffhanger if self.brief.previously
                    else self._fill(previous.question))
        recap = self._line(NARRATOR, "neutral", {"zh": f"上集：{question}", "en": f"Last time: {question}"})
        recap_shot = Shot(id="tmp", shot_size="close_up", camera_move="push_in", min_duration_s=2.0,
                          characters=[self.cast["protagonist"].id], lines=[recap],
                          visual_prompt=self._prompt("Close-up of {protagonist}, the moment the last episode "
                                                     "ended on", previous.place if previous else 0))
        if previous is None:
            beat = self.pools["hook"][0]
            return [Placed(beat, [recap_shot], beat.place), self._place(beat)]
        followup = [self._shot(raw, previous.place) for raw in previous.followup]
        return [Placed(previous, [recap_shot, *followup], previous.place)]

    def _place(self, beat: Beat) -> Placed:
        return Placed(beat=beat, place=beat.place, shots=[self._shot(raw, beat.place) for raw in beat.shots])

    def _shot(self, raw: dict[str, Any], place: int) -> Shot:
        lines = [self._line(speaker, emotion, {"zh": zh, "en": en}, place)
                 for speaker, emotion, zh, en in raw.get("lines", [])]
        return Shot(id="tmp", shot_size=raw["size"], camera_move=raw.get("move", "static"),
                    visual_prompt=self._prompt(raw["prompt"], place),
                    characters=[self.cast[r].id for r in raw.get("cast", [])], lines=lines,
                    min_duration_s=float(raw.get("min", 2.0)))

    def _line(self, speaker: str, emotion: str, text: dict[str, str], place: int = 0) -> Line:
        who = NARRATOR if speaker == NARRATOR else self.cast[speaker].id
        return Line(speaker=who, text=self._fill(text, place), emotion=emotion)

    def _premise_shot(self, place: int) -> Shot:
        """The brief's premise, spoken as the opening narration over a wide shot of the main place."""
        lines = [Line(speaker=NARRATOR, text=part, emotion="neutral")
                 for part in split_for_narration(self.brief.premise, self.lang)[:3]]
        return Shot(id="tmp", shot_size="wide", camera_move="pan_right", min_duration_s=2.5, lines=lines,
                    characters=[self.cast["protagonist"].id],
                    visual_prompt=self._prompt("Establishing wide shot of {place}, {protagonist} small in the frame",
                                               place))

    def _packshot(self, cliff: Beat, episode: int) -> Placed:
        p = self.brief.product
        cta = p.call_to_action or DEFAULT_CTA[self.lang]
        price = (f"，{p.price}" if self.lang == "zh" else f", {p.price}") if p.price else ""
        forms = PACKSHOT_LINES[self.lang]
        text = forms[(episode - 1) % len(forms)].format(name=p.name, point=p.selling_point, price=price, cta=cta)
        shot = Shot(id="tmp", shot_size="extreme_close_up", camera_move="push_in", min_duration_s=2.5,
                    lines=[Line(speaker=NARRATOR, text=text, emotion="happy")],
                    visual_prompt=f"Product packshot of {p.name} on a clean surface, soft light, brand colours")
        return Placed(beat=cliff, shots=[shot], place=cliff.place)

    def _fill(self, text: dict[str, str] | str, place: int = 0) -> str:
        out = text if isinstance(text, str) else text[self.lang]
        values = {"setting": self.setting, "place": self.places[place], **{r: c.name for r, c in self.cast.items()}}
        if self.brief.product:
            p = self.brief.product
            values.update(product=p.name, selling_point=p.selling_point, price=p.price)
        for key, value in values.items():
            out = out.replace("{" + key + "}", value)
        return out

    def _prompt(self, prompt: str, place: int) -> str:
        for role, c in self.cast.items():
            prompt = prompt.replace("{" + role + "}", c.name)
        if self.brief.product:
            prompt = prompt.replace("{product}", self.brief.product.name)
        return f"{prompt.replace('{setting}', self.setting).replace('{place}', self.places[place])}; " \
               f"at {self.location(place)}"

    def location(self, place: int) -> str:
        name = self.places[place]
        if self.setting in name:
            return name
        return f"{self.setting}·{name}" if self.lang == "zh" else f"{name}, {self.setting}"

    # -- length -----------------------------------------------------------------------------------

    def _length(self, placed: list[Placed]) -> float:
        return sum(estimate_shot_seconds(s, self.lang, self.pace) for p in placed for s in p.shots)

    def estimate(self, screenplay: Screenplay) -> float:
        return sum(estimate_shot_seconds(s, self.lang, self.pace) for _, s in screenplay.shots())

    def _hold_to_length(self, placed: list[Placed], target: float) -> list[Placed]:
        """When the beat pool ran out short of the target, hold every shot a little longer (up to MAX_HOLD_S)."""
        floor = target * (1 - LENGTH_TOLERANCE / 2)
        length = self._length(placed)
        if length >= floor:
            return placed
        first = next(s for p in placed for s in p.shots)  # the hook shot stays inside its 3 s window
        held = [s for p in placed for s in p.shots if s is not first]
        extra = (floor - length) / max(1, len(held))
        for p in placed:
            p.shots = [s if s is first else s.model_copy(update={"min_duration_s": min(MAX_HOLD_S, math.ceil(
                (estimate_shot_seconds(s, self.lang, self.pace) + extra) * 10) / 10)}) for s in p.shots]
        return placed

    # -- the screenplay ---------------------------------------------------------------------------

    def _assemble(self, episode: int, placed: list[Placed], cliff: Beat) -> Screenplay:
        scenes: list[Scene] = []
        counter = 0
        for p in placed:
            if not p.shots:
                continue
            shots = []
            for shot in p.shots:
                counter += 1
                shots.append(shot.model_copy(update={"id": f"s{counter:02d}"}))
            summary = self._fill(p.beat.summary)
            if scenes and scenes[-1].location == self.location(p.place):
                last = scenes[-1]
                description = last.description if summary in last.description else f"{last.description} {summary}"
                scenes[-1] = last.model_copy(update={"shots": last.shots + shots, "description": description})
            else:
                scenes.append(Scene(id=f"sc{len(scenes) + 1}", location=self.location(p.place),
                                    time_of_day=p.beat.time, description=summary, shots=shots))
        titles = self.template["titles"][self.lang]
        order = list(range(len(titles)))
        random.Random(_seed(self.seed, "titles")).shuffle(order)
        title = titles[order[(episode - 1) % len(order)]]
        if episode > 1:
            title = f"第{episode}集 {title}" if self.lang == "zh" else f"Episode {episode}: {title}"
        first_line = scenes[0].shots[0].lines[0].text
        synopsis = " ".join(dict.fromkeys(self._fill(p.beat.summary) for p in placed))
        return Screenplay(
            series=SeriesBible(title=self.brief.title, logline=self.brief.premise, genre=self.brief.genre,
                               language=self.lang, setting=self.setting, characters=list(self.cast.values())),
            episode=Episode(number=episode, title=title, synopsis=synopsis,
                            hook=first_line, cliffhanger=self._fill(cliff.question), scenes=scenes))


def _cast(brief: Brief, template: dict[str, Any]) -> dict[str, Character]:
    """The brief's cast exactly as given (no one added); the genre's three defaults when it names no one."""
    given = {c.role: c for c in brief.characters}
    roles = [r for r in ROLES if r in given] if given else list(ROLES)
    cast: dict[str, Character] = {}
    variants = {"female": 0, "male": 0}
    pitches = {"protagonist": 55, "antagonist": 40, "ally": 62}
    for role in roles:
        default = template["cast"][role]
        c = given.get(role)
        gender = c.gender if c else default["gender"]
        name = c.name if c else default[brief.language]["name"]
        look = (c.look if c and c.look else None) or default[brief.language]["look"]
        variants[gender] += 1
        variant = 1 + 2 * (variants[gender] - 1)  # 1, 3, 5: same-gender characters sound clearly different
        char_id = slugify(name, fallback=role) if name.isascii() else role
        if any(existing.id == char_id for existing in cast.values()) or char_id == NARRATOR:
            char_id = role
        cast[role] = Character(id=char_id, name=name, role=role, look=look,
                               voice=Voice(gender=gender, variant=variant, pitch=pitches[role]))
    return cast


def _places(brief: Brief, template: dict[str, Any]) -> list[str]:
    defaults = template["places"][brief.language]
    given = [p.strip() for p in brief.locations]
    return [given[i] if i < len(given) else (given[i % len(given)] if given else defaults[i]) for i in range(3)]


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()[:8], "big")


def split_for_narration(text: str, language: Language) -> list[str]:
    """A premise cut at clause ends into pieces short enough for one subtitle event each."""
    limit = MAX_NARRATION_CHARS[language]
    pieces: list[str] = []
    for clause in (c.strip() for c in _CLAUSE_END.split(text.strip()) if c.strip()):
        if pieces and len(pieces[-1]) + len(clause) <= limit:
            pieces[-1] = (pieces[-1] + ("" if language == "zh" else " ") + clause).strip()
        else:
            while len(clause) > limit:  # one long clause: cut at a word (en) or at the limit (zh)
                cut = clause.rfind(" ", 0, limit) if language == "en" else limit
                cut = cut if cut > 0 else limit
                pieces.append(clause[:cut].strip())
                clause = clause[cut:].strip()
            if clause:
                pieces.append(clause)
    return pieces


def _check_discipline(screenplay: Screenplay) -> None:
    """Micro-drama rules the templates must honour: a line in the first shot, within the 3 s hook window."""
    _, first = next(iter(screenplay.shots()))
    if not first.lines:
        raise InputError("template error: the first shot must carry a hook line (spoken within 3 s)")
    if first.min_duration_s > HOOK_WINDOW_S:
        raise InputError("template error: the first shot's min duration must stay within the 3 s hook window")
