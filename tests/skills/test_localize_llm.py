"""The localizer as a skill: every line translated within its timing budget, on an in-process fake model."""

import json

import pytest

from microdrama.errors import BilledError, InputError
from microdrama.skill import SkillContext
from microdrama.skills.localize_llm import LLMLocalizer
from microdrama.stages import LocalizeInput
from tests.conftest import TINY_SCREENPLAY
from tests.llm.conftest import fake_model, provider  # noqa: F401  (fixtures)
from tests.llm.fake_agents import respond
from tests.skills.contract import Case, SkillContract


def test_the_screenplay_comes_back_in_english(fake_model, provider, tmp_path):  # noqa: F811
    fake_model.responder = respond
    skill = LLMLocalizer(transport=fake_model.transport)
    out = skill(LocalizeInput.model_validate({"screenplay": TINY_SCREENPLAY, "target": "en"}), SkillContext(tmp_path),
                {"provider": provider}).output
    assert out.series.language == "en" and {ln.text for ln in out.spoken_lines()} == {"Get out!"}


def test_the_tokens_reach_the_usage_the_ledger_prices(fake_model, provider, tmp_path):  # noqa: F811
    fake_model.supports = {"tools"}
    fake_model.responder = respond
    usage = LLMLocalizer(transport=fake_model.transport)(
        LocalizeInput.model_validate({"screenplay": TINY_SCREENPLAY, "target": "en"}), SkillContext(tmp_path),
        {"provider": provider}).usage
    assert usage.backend == provider.identity  # what the rate card matches on
    assert usage.quantities["tokens_in"] == 120 and usage.quantities["tokens_out"] == 80  # the answered call
    assert usage.quantities["api_calls"] == 2 and usage.quantities["api_calls_failed"] == 1  # the json_schema probe
    summary = json.loads((tmp_path / "llm" / "summary.json").read_text())
    assert summary["tier"] == "tools" and summary["calls"][0]["purpose"] == "localizer"


def test_a_failed_localisation_is_billed_and_its_transcripts_kept(fake_model, provider, tmp_path):  # noqa: F811
    fake_model.supports = {"json_schema"}
    fake_model.responder = lambda body: '{"title": "T"}'
    with pytest.raises(BilledError) as caught:
        LLMLocalizer(transport=fake_model.transport)(
            LocalizeInput.model_validate({"screenplay": TINY_SCREENPLAY, "target": "en"}), SkillContext(tmp_path),
            {"provider": provider})
    assert caught.value.usage.quantities["tokens_in"] == 4 * 120
    assert len(list((tmp_path / "llm").glob("*-localizer*.json"))) == 5  # 4 replies and the reason it failed


def test_localising_into_the_same_language_is_refused(provider, tmp_path):  # noqa: F811
    with pytest.raises(InputError, match="already in 'zh'"):
        LLMLocalizer()(LocalizeInput.model_validate({"screenplay": TINY_SCREENPLAY, "target": "zh"}),
                       SkillContext(tmp_path), {"provider": provider})


class TestLocalizerContract(SkillContract):
    @pytest.fixture
    def case(self, fake_model, provider):  # noqa: F811
        fake_model.responder = respond
        return Case(LLMLocalizer(transport=fake_model.transport), {"screenplay": TINY_SCREENPLAY, "target": "en"},
                    {"provider": provider.model_dump()})
