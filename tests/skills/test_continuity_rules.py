"""Continuity by rule: cast changes, episodes that do not open where the last stopped, repeated lines."""

import pytest

from microdrama.domain import Screenplay
from microdrama.skills.continuity_rules import RuleContinuityCheck
from tests.skills.contract import Case, SkillContract


def episode(data: dict, number: int, location: str, text: str, look: str | None = None) -> Screenplay:
    d = {**data, "episode": {**data["episode"], "number": number}}
    scene = d["episode"]["scenes"][0]
    d["episode"]["scenes"] = [{**scene, "location": location,
                               "shots": [{**scene["shots"][0], "lines": [{"speaker": "narrator", "text": text}]}]}]
    if look:
        d["series"] = {**d["series"], "characters": [{**c, "look": look} for c in d["series"]["characters"]]}
    return Screenplay.model_validate(d)


def test_a_chained_series_has_no_issues(screenplay_data):
    eps = [episode(screenplay_data, 1, "江边", "一"), episode(screenplay_data, 2, "江边", "二")]
    report, _ = RuleContinuityCheck().run(RuleContinuityCheck.Input(screenplays=eps), None, None)
    assert report.issues == [] and report.episodes == [1, 2]


def test_breaks_are_found_with_the_episode_and_the_reason(screenplay_data):
    eps = [episode(screenplay_data, 1, "江边", "你是谁？"),
           episode(screenplay_data, 2, "办公室", "你是谁？", look="白发，黑色长裙")]
    report, quantities = RuleContinuityCheck().run(RuleContinuityCheck.Input(screenplays=eps), None, None)
    kinds = {i.kind: i for i in report.issues}
    assert set(kinds) == {"look", "timeline", "repeat"} and quantities["issues"] == len(report.issues)
    assert all(i.episode == 2 for i in report.issues)
    assert "江边" in kinds["timeline"].detail and "episode 1" in kinds["repeat"].detail


class TestContinuityRulesContract(SkillContract):
    @pytest.fixture
    def case(self, screenplay_data):
        return Case(RuleContinuityCheck(), {"screenplays": [screenplay_data]})
