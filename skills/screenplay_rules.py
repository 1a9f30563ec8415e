"""The offline default screenplay writer: genre templates filled from a brief, no LLM.

It is honest about what it is: a rule-based writer that casts the brief's characters into a
genre template (revenge, romance, suspense) with micro-drama discipline built in — a hook line
in the first 3 seconds, a cliffhanger shot last — and trims optional shots to fit the target
length. LLM screenwriter agents produce the same `Screenplay` type and replace it by config.
Templates are YAML in `microdrama/assets/screenplay_templates/`; add a genre by adding a file.
"""

from __future__ import annotations

from typing import Any

import yaml

from microdrama.assets import ASSETS_DIR
from microdrama.domain import (
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
    estimate_speech_seconds,
    slugify,
)
from microdrama.errors import InputError
from microdrama.skill import Skill, SkillContext
from microdrama.stages import NoOptions, ScreenplayInput

TEMPLATE_DIR = ASSETS_DIR / "screenplay_templates"
ROLES = ("protagonist", "antagonist", "ally")
HOOK_WINDOW_S = 3.0


def load_template(genre: str) -> dict[str, Any]:
    path = TEMPLATE_DIR / f"{genre}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in TEMPLATE_DIR.glob("*.yaml"))
        raise InputError(f"brief.genre: no template for '{genre}'. Known genres: {', '.join(known)}")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


class RuleBasedScreenplayWriter(Skill[ScreenplayInput, Screenplay, NoOptions]):
    name = "screenplay-rules"
    stage = "screenplay"
    version = "1"
    backend = "rule-based genre templates (offline, no LLM)"
    description = "Writes one episode from a brief using genre templates: hook in 3 s, cliffhanger at the end."
    Input = ScreenplayInput
    Output = Screenplay

    def check_inputs(self, inputs: ScreenplayInput, options: NoOptions) -> None:
        load_template(inputs.brief.genre.value)  # raises a teaching error for unknown genres

    def run(self, inputs: ScreenplayInput, options: NoOptions, ctx: SkillContext) -> tuple[Screenplay, dict[str, float]]:
        brief = inputs.brief
        template = load_template(brief.genre.value)
        lang = brief.language
        cast = self._cast(brief, template)
        names = {role: c.name for role, c in cast.items()}
        fill = _Filler(lang, {**names, "setting": brief.setting or template["setting"][lang]})

        scenes = []
        for scene_t in template["scenes"]:
            shots = []
            for shot_t in scene_t["shots"]:
                shots.append((shot_t.get("optional", False), self._shot(shot_t, cast, fill, lang)))
            scenes.append((scene_t, shots))
        self._fit_length(scenes, brief.target_seconds, lang)

        numbered_scenes = []
        counter = 0
        for scene_t, shots in scenes:
            kept = []
            for _, shot in shots:
                counter += 1
                kept.append(shot.model_copy(update={"id": f"s{counter:02d}"}))
            if kept:
                numbered_scenes.append(
                    Scene(
                        id=scene_t["id"],
                        location=fill(scene_t["location"]),
                        time_of_day=scene_t.get("time_of_day", "day"),
                        description=fill(scene_t.get("description", {"zh": "", "en": ""})),
                        shots=kept,
                    )
                )
        ep_t = template["episode"]
        title = fill(ep_t["title"])
        if brief.episode > 1:
            title = f"第{brief.episode}集 {title}" if lang == "zh" else f"Episode {brief.episode}: {title}"
        screenplay = Screenplay(
            series=SeriesBible(
                title=brief.title,
                logline=brief.premise,
                genre=brief.genre,
                language=lang,
                setting=brief.setting or template["setting"][lang],
                characters=list(cast.values()),
            ),
            episode=Episode(
                number=brief.episode,
                title=title,
                synopsis=fill(ep_t["synopsis"]),
                hook=fill(ep_t["hook"]),
                cliffhanger=fill(ep_t["cliffhanger"]),
                scenes=numbered_scenes,
            ),
        )
        _check_discipline(screenplay)
        lines = len(screenplay.spoken_lines())
        return screenplay, {"shots_written": float(counter), "lines_written": float(lines)}

    # -- steps ---------------------------------------------------------------------------------

    def _cast(self, brief: Brief, template: dict[str, Any]) -> dict[str, Character]:
        given = {c.role: c for c in brief.characters}
        cast: dict[str, Character] = {}
        variants = {"female": 0, "male": 0}
        pitches = {"protagonist": 55, "antagonist": 40, "ally": 62}
        for role in ROLES:
            default = template["cast"][role]
            c = given.get(role)
            gender = c.gender if c else default["gender"]
            name = c.name if c else default[brief.language]["name"]
            look = (c.look if c and c.look else None) or default[brief.language]["look"]
            variants[gender] += 1
            # Spread variants (1, 3, 5...) so same-gender characters sound clearly different.
            variant = 1 + 2 * (variants[gender] - 1)
            char_id = slugify(name, fallback=role) if name.isascii() else role
            if any(existing.id == char_id for existing in cast.values()):
                char_id = role
            cast[role] = Character(
                id=char_id,
                name=name,
                role=role,
                look=look,
                voice=Voice(gender=gender, variant=variant, pitch=pitches[role]),
            )
        return cast

    def _shot(self, shot_t: dict[str, Any], cast: dict[str, Character], fill: "_Filler", lang: Language) -> Shot:
        lines = []
        for speaker_role, emotion, zh, en in shot_t.get("lines", []):
            speaker = NARRATOR if speaker_role == NARRATOR else cast[speaker_role].id
            lines.append(Line(speaker=speaker, text=fill({"zh": zh, "en": en}), emotion=emotion))
        prompt = shot_t["prompt"]
        for role, c in cast.items():
            prompt = prompt.replace("{" + role + "}", c.name)
        return Shot(
            id="tmp",
            shot_size=shot_t["size"],
            camera_move=shot_t.get("move", "static"),
            visual_prompt=prompt.replace("{setting}", fill.values["setting"]),
            characters=[cast[r].id for r in shot_t.get("cast", [])],
            lines=lines,
            min_duration_s=float(shot_t.get("min", 2.0)),
        )

    def _fit_length(self, scenes: list[tuple[dict, list[tuple[bool, Shot]]]], target_s: int, lang: Language) -> None:
        """Drop optional shots, last first, while the estimate exceeds the target."""

        def estimate() -> float:
            total = 0.0
            for _, shots in scenes:
                for _, shot in shots:
                    speech = sum(estimate_speech_seconds(ln.text, lang) + 0.25 for ln in shot.lines)
                    total += max(shot.min_duration_s, speech + 0.5)
            return total

        optional = [(si, shot) for si, (_, shots) in enumerate(scenes) for opt, shot in shots if opt]
        while estimate() > target_s and optional:
            si, shot = optional.pop()
            scenes[si] = (scenes[si][0], [(o, s) for o, s in scenes[si][1] if s is not shot])


class _Filler:
    """Picks the brief's language from a {zh:, en:} pair and fills {role} placeholders."""

    def __init__(self, language: Language, values: dict[str, str]) -> None:
        self.language = language
        self.values = values

    def __call__(self, pair: dict[str, str] | str) -> str:
        text = pair if isinstance(pair, str) else pair[self.language]
        for key, value in self.values.items():
            text = text.replace("{" + key + "}", value)
        return text


def _check_discipline(screenplay: Screenplay) -> None:
    """Micro-drama rules the template must honour: a line in the first shot, a cliffhanger shot last."""
    _, first = next(iter(screenplay.shots()))
    if not first.lines:
        raise InputError("template error: the first shot must carry a hook line (spoken within 3 s)")
    if first.min_duration_s > HOOK_WINDOW_S:
        raise InputError("template error: the first shot's min duration must stay within the 3 s hook window")
