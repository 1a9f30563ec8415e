"""Localize a screenplay with the localizer agent (overseas editions: English dub and subtitles).

Prompts and replies are kept under `llm/` (failed runs included); `llm/summary.json` records the
structured-output tier each call used. Tokens are reported as usage, also when the run fails
(BilledError), so the ledger prices what the provider charged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from microdrama.agents.base import AgentDeps
from microdrama.agents.localizer import LocalizerAgent, LocalizeTask
from microdrama.domain import Screenplay, Strict
from microdrama.errors import InputError
from microdrama.llm.client import ChatClient, LLMError, billed
from microdrama.llm.provider import ProviderConfig
from microdrama.skill import Skill, SkillContext
from microdrama.stages import LocalizeInput

SUMMARY = "llm/summary.json"  # provider, tier per structured call, usage

if TYPE_CHECKING:
    import httpx

    from microdrama.config import ProjectConfig


class LocalizerOptions(Strict):
    provider: ProviderConfig | None = Field(None, description="the model server: the config's `llm:` section, "
                                                              "or MICRODRAMA_LLM_BASE_URL and MICRODRAMA_LLM_MODEL")


class LLMLocalizer(Skill[LocalizeInput, Screenplay, LocalizerOptions]):
    name = "localize-llm"
    stage = "localize"
    version = "1"
    backend = "openai-compatible chat model"
    description = "Translates every line for overseas release within its timing budget (localizer agent)."
    Input = LocalizeInput
    Output = Screenplay
    Options = LocalizerOptions

    def __init__(self, transport: "httpx.BaseTransport | None" = None) -> None:
        self.transport = transport  # tests hand in an in-process fake model; None = the real server

    @classmethod
    def options_from_config(cls, config: "ProjectConfig") -> dict[str, Any]:
        return {"provider": config.llm, **config.options.get(cls.name, {})}

    def check_inputs(self, inputs: LocalizeInput, options: LocalizerOptions) -> None:
        if options.provider is None:
            raise InputError("localize-llm needs a model server: set MICRODRAMA_LLM_BASE_URL and MICRODRAMA_LLM_MODEL")
        if inputs.target == inputs.screenplay.series.language:
            raise InputError(f"the screenplay is already in '{inputs.target}'")

    def backend_for(self, options: LocalizerOptions) -> str:
        return options.provider.identity if options.provider else self.backend

    def run(self, inputs: LocalizeInput, options: LocalizerOptions, ctx: SkillContext) -> tuple[Screenplay, dict[str, float]]:
        client = ChatClient(options.provider, transcript_dir=ctx.work_dir / "llm", transport=self.transport)
        try:
            out = LocalizerAgent().run(AgentDeps(client), LocalizeTask(inputs.screenplay, inputs.target))
        except LLMError as exc:
            raise billed(exc, self, options) from None
        finally:
            client.write_summary(ctx.work_dir / SUMMARY)
        return out, client.usage.quantities()
