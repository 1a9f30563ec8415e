"""The localizer as a skill: every line translated within its timing budget, on an in-process fake model."""

import pytest

from microdrama.errors import InputError
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
