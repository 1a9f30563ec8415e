"""The offline continuity check of a series: names, looks, openings and repeated lines, by rule.

Runs after a series' episodes are written; its findings land in the series' `series.json` and
`continuity.json`. The LLM continuity agent (`continuity-llm`) runs the same rules and adds a
script supervisor's reading on top.
"""

from __future__ import annotations

from microdrama.continuity import rule_issues
from microdrama.skill import Skill, SkillContext
from microdrama.stages import ContinuityInput, ContinuityReport, NoOptions


class RuleContinuityCheck(Skill[ContinuityInput, ContinuityReport, NoOptions]):
    name = "continuity-rules"
    stage = "continuity"
    version = "1"
    backend = "rules (offline, no LLM)"
    description = "Finds name and look changes, episodes that do not open where the last stopped, repeated lines."
    Input = ContinuityInput
    Output = ContinuityReport

    def run(self, inputs: ContinuityInput, options: NoOptions,
            ctx: SkillContext) -> tuple[ContinuityReport, dict[str, float]]:
        issues = rule_issues(inputs.screenplays)
        report = ContinuityReport(episodes=[sp.episode.number for sp in inputs.screenplays], issues=issues)
        return report, {"episodes_checked": float(len(inputs.screenplays)), "issues": float(len(issues))}
