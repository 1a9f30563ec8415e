"""Continuity across a series' episodes, by rule: what needs no model to check.

A character whose name or look changes between episodes, an episode that does not open where the
last one stopped, and a line said again in a later episode. The continuity agent (an LLM) adds
what rules cannot see (props, injuries, timeline) on top of these.
"""

from __future__ import annotations

from microdrama.domain import Screenplay
from microdrama.stages import ContinuityIssue


def rule_issues(episodes: list[Screenplay]) -> list[ContinuityIssue]:
    issues: list[ContinuityIssue] = []
    issues += _cast_changes(episodes)
    issues += _openings(episodes)
    issues += _repeats(episodes)
    return issues


def _cast_changes(episodes: list[Screenplay]) -> list[ContinuityIssue]:
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
                                              detail=f"{c.id}'s look changed since episode {ep}: "
                                                     f"'{look}' -> '{c.look}'"))
    return issues


def _openings(episodes: list[Screenplay]) -> list[ContinuityIssue]:
    """Episode N+1 opens where episode N stopped (a micro-drama series is watched back to back)."""
    issues = []
    ordered = sorted(episodes, key=lambda sp: sp.episode.number)
    for before, after in zip(ordered, ordered[1:]):
        if after.episode.number != before.episode.number + 1:
            continue
        ended, opens = before.episode.scenes[-1].location, after.episode.scenes[0].location
        if ended != opens:
            first_shot = after.episode.scenes[0].shots[0].id
            issues.append(ContinuityIssue(
                episode=after.episode.number, shot_id=first_shot, kind="timeline",
                detail=f"opens at '{opens}', but episode {before.episode.number} stopped at '{ended}' on "
                       f"'{before.episode.cliffhanger}'"))
    return issues


def _repeats(episodes: list[Screenplay]) -> list[ContinuityIssue]:
    said: dict[str, int] = {}
    issues = []
    for sp in sorted(episodes, key=lambda sp: sp.episode.number):
        for line in sp.spoken_lines():
            if line.speaker == "narrator" and line.text.startswith(("上集：", "Last time: ")):
                continue  # a recap repeats on purpose
            earlier = said.setdefault(line.text, sp.episode.number)
            if earlier != sp.episode.number:
                issues.append(ContinuityIssue(episode=sp.episode.number, shot_id=line.shot_id, kind="repeat",
                                              detail=f"'{line.text}' was already said in episode {earlier}"))
    return issues
