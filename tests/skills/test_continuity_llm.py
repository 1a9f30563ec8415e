"""The continuity agent as a skill: rules plus the model's findings, tokens metered, the model named."""

import json

import pytest

from microdrama.errors import BilledError, InputError
from microdrama.skill import SkillContext
from microdrama.skills.continuity_llm import LLMContinuityCheck
from tests.llm.fake_agents import respond
from tests.skills.contract import Case, SkillContract


@pytest.fixture
def skill(fake_model):
    fake_model.responder = respond
    return LLMContinuityCheck(transport=fake_model.transport)


def test_findings_are_the_rules_then_the_models_with_tokens_metered(skill, provider, screenplay_data, tmp_path):
    ep2 = {**screenplay_data, "episode": {**screenplay_data["episode"], "number": 2}}
    result = skill(skill.parse_input({"screenplays": [screenplay_data, ep2]}), SkillContext(tmp_path),
                   skill.parse_options({"provider": provider.model_dump()}))
    assert result.output.episodes == [1, 2]
    assert {i.found_by for i in result.output.issues} == {"rules", provider.identity}
    assert result.usage.quantities["tokens_in"] > 0 and result.usage.backend == provider.identity
    summary = json.loads((tmp_path / "llm" / "summary.json").read_text(encoding="utf-8"))
    assert summary["calls"][0]["purpose"] == "continuity"


def test_no_model_server_says_how_to_name_one(screenplay_data):
    skill = LLMContinuityCheck()
    with pytest.raises(InputError, match="MICRODRAMA_LLM_BASE_URL"):
        skill.check_inputs(skill.parse_input({"screenplays": [screenplay_data]}), skill.parse_options({}))


def test_a_model_that_never_answers_well_is_billed(fake_model, provider, screenplay_data, tmp_path):
    for _ in range(8):
        fake_model.reply("不是 JSON")
    skill = LLMContinuityCheck(transport=fake_model.transport)
    with pytest.raises(BilledError) as caught:
        skill(skill.parse_input({"screenplays": [screenplay_data]}), SkillContext(tmp_path),
              skill.parse_options({"provider": provider.model_dump()}))
    assert caught.value.usage.quantities["tokens_in"] > 0


class TestContinuityLLMContract(SkillContract):
    @pytest.fixture
    def case(self, fake_model, provider, screenplay_data):
        fake_model.responder = respond
        return Case(LLMContinuityCheck(transport=fake_model.transport), {"screenplays": [screenplay_data]},
                    {"provider": provider.model_dump()})
