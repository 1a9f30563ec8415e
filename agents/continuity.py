"""Continuity critic agent: what a script supervisor sees across episodes (props, injuries, clothes,
timeline), on top of the rules that need no model (`microdrama.continuity`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from microdrama.agents.base import Agent, AgentDeps
from microdrama.continuity import rule_issues
from microdrama.domain import Screenplay
from microdrama.stages import ContinuityIssue


class ModelIssue(BaseModel):
    """One finding as the model writes it (lenient: the model's JSON, not the stage contract)."""

    episode: int
    shot_id: str | None = None
    kind: Literal["name", "look", "prop", "timeline", "repeat", "other"]
    detail: str


class ContinuityReport(BaseModel):
    issues: list[ModelIssue]


class ContinuityCriticAgent(Agent[list[Screenplay], list[ContinuityIssue]]):
    name = "continuity"
    version = "2"
    project_code = "RD-AGENT-CONTINUITY"
    description = "Finds continuity errors (names, looks, props, timeline) across a series' episodes."

    def run(self, deps: AgentDeps, task: list[Screenplay]) -> list[ContinuityIssue]:
        digest = "\n\n".join(
            f"Episode {sp.episode.number}: {sp.episode.title}\n" + "\n".join(
                f"{shot.id}: {shot.visual_prompt} | " + " / ".join(f"{ln.speaker}: {ln.text}" for ln in shot.lines)
                for _, shot in sp.shots()) for sp in task)
        report = deps.client.structured([
            {"role": "system", "content": "You are a script supervisor. Find continuity errors across episodes: "
             "props that appear or vanish, injuries or clothes that change, timeline contradictions."},
            {"role": "user", "content": digest},
        ], ContinuityReport, purpose="continuity", hint='Reply with JSON: {"issues": [{"episode": int, '
           '"shot_id": str|null, "kind": "name|look|prop|timeline|repeat|other", "detail": str}]}')
        found_by = deps.client.provider.identity
        return rule_issues(task) + [ContinuityIssue(**issue.model_dump(), found_by=found_by)
                                    for issue in report.issues if issue.detail.strip()]
