"""Screenwriter agent: brief -> screenplay, with hook/cliffhanger discipline and a self-critique pass."""

from __future__ import annotations

import json

from microdrama.agents.base import Agent, AgentDeps
from microdrama.domain import NARRATOR, Brief, CameraMove, Emotion, Screenplay, ShotSize

RULES = """Micro-drama rules (微短剧):
- Vertical 9:16 episode of {seconds} seconds, 1-3 scenes, {shots} shots.
- HOOK: the first shot carries a spoken line and its min_duration_s is at most 3: conflict within 3 seconds.
- CLIFFHANGER: the last shot ends on an open question, with a line.
- Lines are short (at most 40 Chinese characters or 20 English words); every speaker is a character id or "narrator".
- Write every line in {language_name}.
- Shots: shot_size one of {sizes}; camera_move one of {moves}; emotion one of {emotions}.
- visual_prompt: an English description of what the camera sees, naming the characters on screen."""

SCHEMA_HINT = """Reply with one JSON object of this shape (ids are lowercase slugs):
{"series": {"title": str, "logline": str, "genre": "revenge|romance|suspense", "language": "zh|en", "setting": str,
  "characters": [{"id": str, "name": str, "role": str, "look": str,
                  "voice": {"gender": "female|male", "variant": 1-7, "pitch": 0-99, "rate": 80-400}}]},
 "episode": {"number": int, "title": str, "synopsis": str, "hook": str, "cliffhanger": str,
  "scenes": [{"id": str, "location": str, "time_of_day": "day|dusk|night|interior", "description": str,
    "shots": [{"id": "s01", "shot_size": str, "camera_move": str, "visual_prompt": str, "characters": [ids],
               "min_duration_s": number, "lines": [{"speaker": id, "text": str, "emotion": str}]}]}]}}"""


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

    def run(self, deps: AgentDeps, task: Brief) -> Screenplay:
        shots = max(4, min(14, task.target_seconds // 5))
        rules = RULES.format(seconds=task.target_seconds, shots=f"about {shots}",
                             language_name="Simplified Chinese" if task.language == "zh" else "English",
                             sizes=", ".join(s.value for s in ShotSize), moves=", ".join(m.value for m in CameraMove),
                             emotions=", ".join(e.value for e in Emotion))
        system = f"You are a professional micro-drama screenwriter.\n{rules}\n{SCHEMA_HINT}"
        brief = json.dumps(task.model_dump(mode="json"), ensure_ascii=False)
        draft = deps.client.structured(
            [{"role": "system", "content": system}, {"role": "user", "content": f"Brief:\n{brief}"}],
            Screenplay, purpose="screenwriter-draft", check=discipline)
        critique = (
            "Critique this draft against the rules and the brief: is the hook inside 3 seconds, does every "
            "scene raise the stakes, does the last line leave an open question, are names and looks consistent? "
            "Then reply with the improved screenplay as one JSON object of the same shape.\n\n"
            + draft.model_dump_json()
        )
        return deps.client.structured(
            [{"role": "system", "content": system}, {"role": "user", "content": critique}],
            Screenplay, purpose="screenwriter-critique", check=discipline)


__all__ = ["ScreenwriterAgent", "discipline", "NARRATOR"]
