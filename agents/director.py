"""Director agent: screenplay -> shot plan (sizes, camera moves, visual prompts true to character looks)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from microdrama.agents.base import Agent, AgentDeps
from microdrama.domain import CameraMove, Screenplay, ShotSize


class ShotDirection(BaseModel):
    id: str
    shot_size: ShotSize
    camera_move: CameraMove
    visual_prompt: str = Field(min_length=1)


class ShotPlan(BaseModel):
    shots: list[ShotDirection]


class DirectorAgent(Agent[Screenplay, Screenplay]):
    name = "director"
    version = "1"
    project_code = "RD-AGENT-DIRECTOR"
    description = "Plans shot sizes, camera moves and visual prompts consistent with the characters' looks."

    def run(self, deps: AgentDeps, task: Screenplay) -> Screenplay:
        looks = "\n".join(f"- {c.id} ({c.name}): {c.look}" for c in task.series.characters)
        shots = "\n".join(
            f"- {shot.id} [{scene.location}, {scene.time_of_day.value}] on screen: {', '.join(shot.characters) or 'none'}; "
            f"lines: {' / '.join(ln.text for ln in shot.lines)}" for scene, shot in task.shots())
        ids = [shot.id for _, shot in task.shots()]
        directed: list[Screenplay] = []

        def same_shots(plan: ShotPlan) -> None:
            """Every shot planned once, and the directed screenplay valid: a failure is repaired, not a crash."""
            got = [s.id for s in plan.shots]
            if sorted(got) != sorted(ids):
                raise ValueError(f"plan every shot exactly once: expected ids {ids}, got {got}")
            directed.append(apply_plan(task, plan))

        deps.client.structured([
            {"role": "system", "content": "You are a micro-drama director planning vertical 9:16 shots. "
             f"shot_size: {', '.join(s.value for s in ShotSize)}; camera_move: {', '.join(m.value for m in CameraMove)}. "
             "Visual prompts are English, name who is on screen and repeat each character's look exactly."},
            {"role": "user", "content": f"Characters:\n{looks}\n\nShots:\n{shots}"},
        ], ShotPlan, purpose="director", check=same_shots,
            hint='Reply with JSON: {"shots": [{"id", "shot_size", "camera_move", "visual_prompt"}]}')
        return directed[-1]


def apply_plan(screenplay: Screenplay, plan: ShotPlan) -> Screenplay:
    """The screenplay with each shot's size, move and visual prompt taken from the plan."""
    by_id = {s.id: s for s in plan.shots}
    data = screenplay.model_dump(mode="json")
    for scene in data["episode"]["scenes"]:
        for shot in scene["shots"]:
            d = by_id[shot["id"]]
            shot.update(shot_size=d.shot_size.value, camera_move=d.camera_move.value, visual_prompt=d.visual_prompt)
    return Screenplay.model_validate(data)
