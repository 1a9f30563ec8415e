"""Continuity of a series read by a script-supervisor agent (any OpenAI-compatible model), on top of the
rules `continuity-rules` runs. Its tokens are metered like every other model call."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from microdrama.agents.base import AgentDeps
from microdrama.agents.continuity import ContinuityCriticAgent
from microdrama.domain import Strict
from microdrama.errors import InputError
from microdrama.llm.client import ChatClient, LLMError, billed
from microdrama.llm.provider import ProviderConfig
from microdrama.skill import Skill, SkillContext
from microdrama.stages import ContinuityInput, ContinuityReport

if TYPE_CHECKING:
    import httpx

    from microdrama.config import ProjectConfig


class LLMContinuityOptions(Strict):
    provider: ProviderConfig | None = Field(None, description="the model server: the config's `llm:` section, "
                                                              "or MICRODRAMA_LLM_BASE_URL and MICRODRAMA_LLM_MODEL")


class LLMContinuityCheck(Skill[ContinuityInput, ContinuityReport, LLMContinuityOptions]):
    name = "continuity-llm"
    stage = "continuity"
    version = "1"
    backend = "openai-compatible chat model + rules"
    description = "A script-supervisor agent reads every episode for props, clothes and timeline breaks, plus rules."
    Input = ContinuityInput
    Output = ContinuityReport
    Options = LLMContinuityOptions

    def __init__(self, transport: "httpx.BaseTransport | None" = None) -> None:
        self.transport = transport  # tests hand in an in-process fake model; None = the real server

    @classmethod
    def options_from_config(cls, config: "ProjectConfig") -> dict[str, Any]:
        return {"provider": config.llm, **config.options.get(cls.name, {})}

    def check_inputs(self, inputs: ContinuityInput, options: LLMContinuityOptions) -> None:
        if options.provider is None:
            raise InputError("continuity-llm needs a model server: set MICRODRAMA_LLM_BASE_URL and "
                             "MICRODRAMA_LLM_MODEL, or `llm:` in the config (or use stages.continuity: continuity-rules)")

    def backend_for(self, options: LLMContinuityOptions) -> str:
        return options.provider.identity if options.provider else self.backend

    def run(self, inputs: ContinuityInput, options: LLMContinuityOptions,
            ctx: SkillContext) -> tuple[ContinuityReport, dict[str, float]]:
        client = ChatClient(options.provider, transcript_dir=ctx.work_dir / "llm", transport=self.transport)
        try:
            issues = ContinuityCriticAgent().run(AgentDeps(client=client), inputs.screenplays)
        except LLMError as exc:
            raise billed(exc, self, options) from None
        finally:
            client.write_summary(ctx.work_dir / "llm" / "summary.json")
        report = ContinuityReport(episodes=[sp.episode.number for sp in inputs.screenplays], issues=issues)
        return report, {**client.usage.quantities(), "issues": float(len(issues))}
