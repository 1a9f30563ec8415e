"""LLM screenplay writer: the screenwriter agent drafts and self-critiques, the director plans shots.

Any OpenAI-compatible server works (DashScope/Qwen, DeepSeek, Volcengine Ark/Doubao, OpenAI, vLLM,
Ollama). Prompts and replies are kept under `llm/` next to the result for audit, failed runs
included. Tokens are reported as usage (the ledger prices them per model); if the model never
produces a valid screenplay, the tokens it consumed are still reported (BilledError) before the
run fails. `llm/summary.json` records the structured-output tier each call used and the length
control's figures (target, draft and final estimate, revision rounds), for the manifest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from microdrama.agents.base import AgentDeps
from microdrama.agents.director import DirectorAgent
from microdrama.agents.screenwriter import ScreenwriterAgent
from microdrama.domain import Screenplay, Strict
from microdrama.errors import InputError
from microdrama.llm.client import ChatClient, LLMError, billed
from microdrama.llm.provider import ProviderConfig
from microdrama.skill import Skill, SkillContext
from microdrama.stages import ScreenplayInput

SUMMARY = "llm/summary.json"  # provider, tier per structured call, usage, length figures

if TYPE_CHECKING:
    import httpx

    from microdrama.config import ProjectConfig


class LLMWriterOptions(Strict):
    provider: ProviderConfig | None = Field(None, description="the model server: the config's `llm:` section, "
                                                              "or MICRODRAMA_LLM_BASE_URL and MICRODRAMA_LLM_MODEL")
    direct_shots: bool = Field(True, description="run the director agent after the screenwriter")


class LLMScreenplayWriter(Skill[ScreenplayInput, Screenplay, LLMWriterOptions]):
    name = "screenplay-llm"
    stage = "screenplay"
    version = "1"
    backend = "openai-compatible chat model"
    description = "Screenwriter + director agents over any OpenAI-compatible API (Qwen, DeepSeek, Doubao, vLLM...)."
    Input = ScreenplayInput
    Output = Screenplay
    Options = LLMWriterOptions

    def __init__(self, transport: "httpx.BaseTransport | None" = None) -> None:
        self.transport = transport  # tests hand in an in-process fake model; None = the real server

    @classmethod
    def options_from_config(cls, config: "ProjectConfig") -> dict[str, Any]:
        return {"provider": config.llm, **config.options.get(cls.name, {})}

    def check_inputs(self, inputs: ScreenplayInput, options: LLMWriterOptions) -> None:
        if options.provider is None:
            raise InputError("screenplay-llm needs a model server: set MICRODRAMA_LLM_BASE_URL and "
                             "MICRODRAMA_LLM_MODEL (and MICRODRAMA_LLM_API_KEY), or `llm:` in the config")

    def backend_for(self, options: LLMWriterOptions) -> str:
        return options.provider.identity if options.provider else self.backend

    def run(self, inputs: ScreenplayInput, options: LLMWriterOptions, ctx: SkillContext) -> tuple[Screenplay, dict[str, float]]:
        client = ChatClient(options.provider, transcript_dir=ctx.work_dir / "llm", transport=self.transport)
        deps = AgentDeps(client=client)
        writer = ScreenwriterAgent()
        try:
            screenplay = writer.run(deps, inputs.brief)
            if options.direct_shots:
                screenplay = DirectorAgent().run(deps, screenplay)
        except LLMError as exc:
            raise billed(exc, self, options) from None
        finally:  # written for failed runs too: which tier the provider got, how far length control came
            client.write_summary(ctx.work_dir / SUMMARY, length=writer.length.as_dict() if writer.length else None)
        # The brief's episode number wins over whatever the model wrote.
        screenplay = screenplay.model_copy(update={"episode": screenplay.episode.model_copy(
            update={"number": inputs.brief.episode})})
        return screenplay, client.usage.quantities()
