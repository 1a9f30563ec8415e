"""Screenwriter agent: brief -> screenplay, with hook/cliffhanger discipline, a self-critique pass and
length control (a draft far from the target length goes back once with its measured estimate)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from microdrama.agents.base import Agent, AgentDeps
from microdrama.domain import (
    LENGTH_TOLERANCE,
    NARRATOR,
    Brief,
    CameraMove,
    Emotion,
    Screenplay,
    ShotSize,
    estimate_episode_seconds,
)
from microdrama.llm.client import LLMError

RULES = """Micro-drama rules (微短剧):
- Vertical 9:16 episode of {seconds} seconds, 1-3 scenes, {shots} shots.
- HOOK: the first shot carries a spoken line and its min_duration_s is at most 3: conflict within 3 seconds.
- CLIFFHANGER: the last shot ends on an open question, with a line.
- Lines are short (at most 40 Chinese characters or 20 English words); every speaker is a character id or "narrator".
- Write every line in {language_name}.
- Shots: shot_size one of {sizes}; camera_move one of {moves}; emotion one of {emotions}.
- visual_prompt: an English description of what the camera sees, naming the characters on screen.
- Use the brief's characters (names, roles, looks) as given and add no one; set scenes in its setting and locations;
  if it has a product, name it in a line with its selling point and end with its price and call to action.
- If the brief has `previously`, this episode continues a series: open where that episode stopped, on its
  cliffhanger, and answer or deepen it in the first scene."""

# Only for servers that cannot take the JSON Schema in the request (json_object and prompt tiers).
SCHEMA_HINT = """Reply with one JSON object of this shape (ids are lowercase slugs):
{"series": {"title": str, "logline": str, "genre": "revenge|romance|suspense|family|workplace", "language": "zh|en", "setting": str,
  "characters": [{"id": str, "name": str, "role": str, "look": str,
                  "voice": {"gender": "female|male", "variant": 1-7, "pitch": 0-99, "rate": 80-400}}]},
 "episode": {"number": int, "title": str, "synopsis": str, "hook": str, "cliffhanger": str,
  "scenes": [{"id": str, "location": str, "time_of_day": "day|dusk|night|interior", "description": str,
    "shots": [{"id": "s01", "shot_size": str, "camera_move": str, "visual_prompt": str, "characters": [ids],
               "min_duration_s": number, "lines": [{"speaker": id, "text": str, "emotion": str}]}]}]}}"""


@dataclass
class LengthCheck:
    """What length control measured, for `llm/summary.json` and the manifest."""

    target_s: int
    draft_s: float  # the critiqued draft, before any length revision
    final_s: float
    rounds: int  # length revisions sent (0 or 1)
    tolerance: float = LENGTH_TOLERANCE
    revision_error: str | None = None  # the revision round failed; the critiqued draft was kept

    @property
    def within(self) -> bool:
        return abs(self.final_s - self.target_s) <= self.tolerance * self.target_s

    def as_dict(self) -> dict:
        return {**asdict(self), "draft_s": round(self.draft_s, 1), "final_s": round(self.final_s, 1),
                "within": self.within}


def discipline(screenplay: Screenplay) -> None:
    """Rules a schema cannot express; a violation is sent back to the model as a repair request."""
    shots = [shot for _, shot in screenplay.shots()]
    if not shots[0].lines or shots[0].min_duration_s > 3:
        raise ValueError("the first shot must carry a spoken hook line and have min_duration_s <= 3")
    if not shots[-1].lines:
        raise ValueError("the last shot must carry the cliffhanger line")
    if len(screenplay.episode.scenes) > 3:
        raise ValueError("use at most 3 scenes")


class ScreenwriterAgent(Agent[Brief, Screenplay]):
    name = "screenwriter"
    version = "1"
    project_code = "RD-AGENT-SCREENWRITER"
    description = "Writes an episode from a brief; critiques and revises its own draft against micro-drama rules."

    length: LengthCheck | None = None  # set by `run`: the length control's figures

    def run(self, deps: AgentDeps, task: Brief) -> Screenplay:
        shots = max(4, min(14, task.target_seconds // 5))
        rules = RULES.format(seconds=task.target_seconds, shots=f"about {shots}",
                             language_name="Simplified Chinese" if task.language == "zh" else "English",
                             sizes=", ".join(s.value for s in ShotSize), moves=", ".join(m.value for m in CameraMove),
                             emotions=", ".join(e.value for e in Emotion))
        system = f"You are a professional micro-drama screenwriter.\n{rules}"
        brief = json.dumps(task.model_dump(mode="json"), ensure_ascii=False)
        self.length = None
        draft = deps.client.structured(
            [{"role": "system", "content": system}, {"role": "user", "content": f"Brief:\n{brief}"}],
            Screenplay, purpose="screenwriter-draft", check=discipline, hint=SCHEMA_HINT)
        critique = (
            "Critique this draft against the rules and the brief: is the hook inside 3 seconds, does every "
            "scene raise the stakes, does the last line leave an open question, are names and looks consistent? "
            "Then reply with the improved screenplay as one JSON object of the same shape.\n\n"
            + draft.model_dump_json()
        )
        screenplay = deps.client.structured(
            [{"role": "system", "content": system}, {"role": "user", "content": critique}],
            Screenplay, purpose="screenwriter-critique", check=discipline, hint=SCHEMA_HINT)
        return self._fit_length(deps, system, screenplay, task.target_seconds)

    def _fit_length(self, deps: AgentDeps, system: str, screenplay: Screenplay, target_s: int) -> Screenplay:
        """One revision round when the draft misses the target by more than the tolerance; the result is kept."""
        measured = estimate_episode_seconds(screenplay)
        self.length = LengthCheck(target_s=target_s, draft_s=measured, final_s=measured, rounds=0)
        if self.length.within:
            return screenplay
        change = "add shots or lines" if measured < target_s else "remove shots or shorten lines"
        revise = (
            f"Your draft runs about {measured:.0f} s when spoken; the target is {target_s} s "
            f"(±{LENGTH_TOLERANCE:.0%}). Revise it to about {target_s} s: {change}, keeping the hook in the first "
            "3 seconds and the cliffhanger at the end. Reply with the complete revised screenplay as one JSON "
            "object of the same shape.\n\n" + screenplay.model_dump_json()
        )
        self.length.rounds = 1
        try:
            revised = deps.client.structured(
                [{"role": "system", "content": system}, {"role": "user", "content": revise}],
                Screenplay, purpose="screenwriter-length", check=discipline, hint=SCHEMA_HINT)
        except LLMError as exc:  # the critiqued draft is a valid screenplay: keep it, say why
            self.length.revision_error = str(exc)
            return screenplay
        self.length.final_s = estimate_episode_seconds(revised)
        return revised


__all__ = ["NARRATOR", "LengthCheck", "ScreenwriterAgent", "discipline"]
