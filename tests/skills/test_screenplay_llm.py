"""The LLM screenplay writer as a skill: screenwriter + director agents on an in-process fake model."""

import pytest

from microdrama.domain import Screenplay
from microdrama.errors import BilledError, InputError
from microdrama.skill import SkillContext
from microdrama.skills.screenplay_llm import LLMScreenplayWriter
from microdrama.stages import ScreenplayInput
from tests.llm.conftest import fake_model, provider  # noqa: F401  (fixtures)
from tests.llm.fake_agents import respond
from tests.skills.contract import Case, SkillContract

BRIEF = {"title": "测试短剧", "premise": "被赶出家门的千金归来", "genre": "revenge", "episode": 3, "target_seconds": 30}


def test_the_agents_write_a_directed_screenplay_and_report_tokens(fake_model, provider, tmp_path):  # noqa: F811
    fake_model.responder = respond
    skill = LLMScreenplayWriter(transport=fake_model.transport)
    result = skill(ScreenplayInput.model_validate({"brief": BRIEF}), SkillContext(tmp_path), {"provider": provider})
    assert isinstance(result.output, Screenplay) and result.output.episode.number == 3  # the brief's number wins
    assert result.usage.quantities["tokens_in"] > 0 and result.usage.backend == provider.identity
    assert list((tmp_path / "llm").glob("*.json")), "prompts and replies are kept for audit"


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


class TestLLMWriterContract(SkillContract):
    @pytest.fixture
    def case(self, fake_model, provider):  # noqa: F811
        fake_model.responder = respond
        return Case(LLMScreenplayWriter(transport=fake_model.transport), {"brief": BRIEF},
                    {"provider": provider.model_dump()})
