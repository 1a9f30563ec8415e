"""Localizer agent: screenplay -> another language, keeping every line within its timing budget."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from microdrama.agents.base import Agent, AgentDeps
from microdrama.domain import Language, Screenplay, estimate_speech_seconds

SLACK = 1.3  # a translated line may take at most 30% longer to say than the original


class Translation(BaseModel):
    title: str
    episode_title: str
    logline: str
    names: dict[str, str]  # character id -> name in the target language
    lines: dict[str, str]  # line id -> translated text


@dataclass
class LocalizeTask:
    screenplay: Screenplay
    target: Language


class LocalizerAgent(Agent[LocalizeTask, Screenplay]):
    name = "localizer"
    version = "1"
    project_code = "RD-AGENT-LOCALIZER"
    description = "Translates a screenplay for overseas release, keeping each line inside its timing budget."

    def run(self, deps: AgentDeps, task: LocalizeTask) -> Screenplay:
        sp, target = task.screenplay, task.target
        lines = {ln.id: ln.text for ln in sp.spoken_lines()}
        budget = {k: estimate_speech_seconds(v, sp.series.language) * SLACK for k, v in lines.items()}

        localized: list[Screenplay] = []

        def fits(t: Translation) -> None:
            """Every line translated, sayable in its time, and the result a valid screenplay (else repaired)."""
            missing = sorted(set(lines) - set(t.lines))
            if missing:
                raise ValueError(f"translate every line; missing ids: {', '.join(missing)}")
            long = [k for k, v in t.lines.items() if k in budget and estimate_speech_seconds(v, target) > budget[k]]
            if long:
                raise ValueError(f"these lines are too long to say in their time; shorten them: {', '.join(long)}")
            localized.append(apply_translation(sp, target, t))

        language = "English" if target == "en" else "Simplified Chinese"
        deps.client.structured([
            {"role": "system", "content": f"You localise micro-dramas into {language} for overseas audiences: natural "
             "spoken dialogue, short enough to be said in the original timing, each line on one row."},
            {"role": "user", "content": f"Title: {sp.series.title}\nEpisode: {sp.episode.title}\nLogline: "
             f"{sp.series.logline}\nCharacters: {', '.join(f'{c.id}={c.name}' for c in sp.series.characters)}\n"
             "Lines (id: text):\n" + "\n".join(f"{k}: {v}" for k, v in lines.items())},
        ], Translation, purpose="localizer", check=fits, hint='Reply with JSON: {"title", "episode_title", '
           '"logline", "names": {character id: name}, "lines": {line id: text}}')
        return localized[-1]


def apply_translation(sp: Screenplay, target: Language, t: Translation) -> Screenplay:
    """The screenplay in the target language; a translation the domain refuses raises ValueError."""
    data = sp.model_dump(mode="json")
    data["series"].update(title=t.title, logline=t.logline, language=target)
    data["episode"]["title"] = t.episode_title
    for c in data["series"]["characters"]:
        c["name"] = t.names.get(c["id"], c["name"])
    for scene in data["episode"]["scenes"]:
        for shot in scene["shots"]:
            for i, line in enumerate(shot["lines"]):
                line["text"] = t.lines[f"{shot['id']}-l{i + 1}"]
    return Screenplay.model_validate(data)
