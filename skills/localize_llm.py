"""Localize a screenplay with the localizer agent (overseas editions: English dub and subtitles)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from microdrama.agents.base import AgentDeps
from microdrama.agents.localizer import LocalizerAgent, LocalizeTask
from microdrama.domain import Language, Screenplay
from microdrama.errors import InputError
from microdrama.llm.client import ChatClient, LLMError, billed
from microdrama.llm.provider import ProviderConfig
from microdrama.skill import Skill, SkillContext


class LocalizeInput(BaseModel):
    screenplay: Screenplay
    target: Language = Field(description="language to localise into: 'en' or 'zh'")
    provider: ProviderConfig | None = None


class LLMLocalizer(Skill[LocalizeInput, Screenplay]):
    name = "localize-llm"
    stage = "localize"
    version = "1"
    backend = "openai-compatible chat model"
    description = "Translates every line for overseas release within its timing budget (localizer agent)."
    Input = LocalizeInput
    Output = Screenplay

    def check_inputs(self, inputs: LocalizeInput) -> None:
        if inputs.provider is None:
            raise InputError("localize-llm needs a model server: set MICRODRAMA_LLM_BASE_URL and MICRODRAMA_LLM_MODEL")
        if inputs.target == inputs.screenplay.series.language:
            raise InputError(f"the screenplay is already in '{inputs.target}'")

    def backend_for(self, inputs: LocalizeInput) -> str:
        return inputs.provider.identity if inputs.provider else self.backend

    def run(self, inputs: LocalizeInput, ctx: SkillContext) -> tuple[Screenplay, dict[str, float]]:
        client = ChatClient(inputs.provider, transcript_dir=ctx.work_dir / "llm")
        try:
            out = LocalizerAgent().run(AgentDeps(client), LocalizeTask(inputs.screenplay, inputs.target))
        except LLMError as exc:
            raise billed(exc, self, inputs) from None
        return out, client.usage.quantities()
