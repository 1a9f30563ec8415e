"""The LLM screenplay writer as a skill: screenwriter + director agents on an in-process fake model."""

import json

import pytest

from microdrama.domain import Screenplay
from microdrama.errors import BilledError, InputError
from microdrama.skill import SkillContext
from microdrama.skills.screenplay_llm import LLMScreenplayWriter
from microdrama.stages import ScreenplayInput
from tests.llm.conftest import fake_model, provider  # noqa: F401  (fixtures)
from tests.llm.fake_agents import respond, screenplay_lasting, seconds_of
from tests.skills.contract import Case, SkillContract

BRIEF = {"title": "测试短剧", "premise": "被赶出家门的千金归来", "genre": "revenge", "episode": 3, "target_seconds": 30}


def test_the_agents_write_a_directed_screenplay_and_report_tokens(fake_model, provider, tmp_path):  # noqa: F811
    fake_model.responder = respond
    skill = LLMScreenplayWriter(transport=fake_model.transport)
    result = skill(ScreenplayInput.model_validate({"brief": BRIEF}), SkillContext(tmp_path), {"provider": provider})
    assert isinstance(result.output, Screenplay) and result.output.episode.number == 3  # the brief's number wins
    assert result.usage.quantities["tokens_in"] > 0 and result.usage.backend == provider.identity
    assert list((tmp_path / "llm").glob("*.json")), "prompts and replies are kept for audit"


@pytest.mark.parametrize("tier", ["json_schema", "tools", "json_object"])
@pytest.mark.parametrize("setting", ["auto", "named"])
def test_each_tier_writes_the_episode_on_a_server_that_takes_only_it(fake_model, provider, tmp_path, tier,  # noqa: F811
                                                                      setting):
    fake_model.supports = {tier}
    fake_model.responder = respond
    provider = provider.model_copy(update={"structured_output": "auto" if setting == "auto" else tier})
    skill = LLMScreenplayWriter(transport=fake_model.transport)
    result = skill(ScreenplayInput.model_validate({"brief": BRIEF}), SkillContext(tmp_path), {"provider": provider})
    assert len(result.output.spoken_lines()) > 4 and result.output.episode.number == 3
    summary = json.loads((tmp_path / "llm" / "summary.json").read_text())
    assert summary["provider"] == provider.identity and summary["tier"] == tier
    assert [(c["purpose"], c["tier"], c["ok"]) for c in summary["calls"]] == [
        ("screenwriter-draft", tier, True), ("screenwriter-critique", tier, True), ("director", tier, True)]
    assert summary["length"]["target_s"] == 30 and summary["length"]["rounds"] == 0 and summary["length"]["within"]
    ladder = ["json_schema", "tools", "json_object"]
    probes = ladder[:ladder.index(tier)] if setting == "auto" else []
    assert fake_model.tiers_sent() == probes + [tier] * 3  # refused tiers are probed once, then remembered
    assert result.usage.quantities["api_calls"] == 3 + len(probes)
    assert result.usage.quantities["api_calls_failed"] == len(probes)


def test_the_length_round_is_recorded_in_the_summary(fake_model, provider, tmp_path):  # noqa: F811
    from tests.conftest import TINY_SCREENPLAY

    tiny = json.dumps(TINY_SCREENPLAY, ensure_ascii=False)
    fake_model.reply(tiny).reply(tiny)
    fake_model.responder = respond
    skill = LLMScreenplayWriter(transport=fake_model.transport)
    skill(ScreenplayInput.model_validate({"brief": BRIEF}), SkillContext(tmp_path), {"provider": provider})
    summary = json.loads((tmp_path / "llm" / "summary.json").read_text())
    assert summary["length"] == {"target_s": 30, "draft_s": round(seconds_of(TINY_SCREENPLAY), 1),
                                 "final_s": round(seconds_of(screenplay_lasting(30)), 1), "rounds": 1,
                                 "tolerance": 0.15, "revision_error": None, "within": True}
    assert [c["purpose"] for c in summary["calls"]] == [
        "screenwriter-draft", "screenwriter-critique", "screenwriter-length", "director"]


def test_without_a_model_server_the_error_says_how_to_set_one():
    skill = LLMScreenplayWriter()
    with pytest.raises(InputError, match="MICRODRAMA_LLM_BASE_URL"):
        skill(ScreenplayInput.model_validate({"brief": BRIEF}), SkillContext("/tmp/unused-llm-skill"))


def test_a_model_that_never_answers_well_is_still_billed(fake_model, provider, tmp_path):  # noqa: F811
    fake_model.responder = lambda body: "not json at all"
    skill = LLMScreenplayWriter(transport=fake_model.transport)
    with pytest.raises(BilledError) as caught:
        skill(ScreenplayInput.model_validate({"brief": BRIEF}), SkillContext(tmp_path), {"provider": provider})
    assert caught.value.usage.quantities["tokens_in"] > 0
    summary = json.loads((tmp_path / "llm" / "summary.json").read_text())  # kept for the audit, like the replies
    assert summary["calls"][0]["ok"] is False and "gave no valid Screenplay" in summary["calls"][0]["error"]
    assert summary["length"] is None
    assert list((tmp_path / "llm").glob("*-screenwriter-draft-failed-*.json"))


class TestLLMWriterContract(SkillContract):
    @pytest.fixture
    def case(self, fake_model, provider):  # noqa: F811
        fake_model.responder = respond
        return Case(LLMScreenplayWriter(transport=fake_model.transport), {"brief": BRIEF},
                    {"provider": provider.model_dump()})
