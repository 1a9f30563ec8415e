"""Continuity critic agent: names, looks and props across episodes, checked by rule and by model."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from microdrama.agents.base import Agent, AgentDeps
from microdrama.domain import Screenplay


class ContinuityIssue(BaseModel):
    episode: int
    shot_id: str | None = None
    kind: Literal["name", "look", "prop", "timeline", "other"]
    detail: str


class ContinuityReport(BaseModel):
    issues: list[ContinuityIssue]


def rule_issues(episodes: list[Screenplay]) -> list[ContinuityIssue]:
    """What needs no model: a character whose name or look changes between episodes."""
    first: dict[str, tuple[int, str, str]] = {}
    issues = []
    for sp in episodes:
        for c in sp.series.characters:
            if c.id not in first:
                first[c.id] = (sp.episode.number, c.name, c.look)
                continue
            ep, name, look = first[c.id]
            if c.name != name:
                issues.append(ContinuityIssue(episode=sp.episode.number, kind="name",
                                              detail=f"{c.id} is '{c.name}' here but '{name}' in episode {ep}"))
            if c.look != look:
                issues.append(ContinuityIssue(episode=sp.episode.number, kind="look",
                                              detail=f"{c.id}'s look changed since episode {ep}: '{look}' -> '{c.look}'"))
    return issues


class ContinuityCriticAgent(Agent[list[Screenplay], ContinuityReport]):
    name = "continuity"
    version = "1"
    project_code = "RD-AGENT-CONTINUITY"
    description = "Finds continuity errors (names, looks, props, timeline) across a series' episodes."

    def run(self, deps: AgentDeps, task: list[Screenplay]) -> ContinuityReport:
        found = rule_issues(task)
        digest = "\n\n".join(
            f"Episode {sp.episode.number}: {sp.episode.title}\n" + "\n".join(
                f"{shot.id}: {shot.visual_prompt} | " + " / ".join(f"{ln.speaker}: {ln.text}" for ln in shot.lines)
                for _, shot in sp.shots()) for sp in task)
        report = deps.client.structured([
            {"role": "system", "content": "You are a script supervisor. Find continuity errors across episodes: "
             "props that appear or vanish, injuries or clothes that change, timeline contradictions. Reply with JSON: "
             '{"issues": [{"episode": int, "shot_id": str|null, "kind": "name|look|prop|timeline|other", "detail": str}]}'},
            {"role": "user", "content": digest},
        ], ContinuityReport, purpose="continuity")
        return ContinuityReport(issues=found + report.issues)
