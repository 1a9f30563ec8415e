"""Provider configuration. The API key lives only in the environment (or the OS keyring), never in
config files, manifests, run folders, transcripts or the ledger."""

from __future__ import annotations

import os
from typing import Literal, Mapping
from urllib.parse import parse_qs, urlparse

from pydantic import Field, field_validator

from microdrama.domain import Strict
from microdrama.errors import InputError

ENV_BASE_URL, ENV_MODEL, ENV_KEY = "MICRODRAMA_LLM_BASE_URL", "MICRODRAMA_LLM_MODEL", "MICRODRAMA_LLM_API_KEY"
# The variable each provider's own SDK reads, used only for that provider's host (a key is never
# sent to another provider's server).
PROVIDER_KEY_ENVS = {"api.openai.com": "OPENAI_API_KEY", "dashscope.aliyuncs.com": "DASHSCOPE_API_KEY",
                     "dashscope-intl.aliyuncs.com": "DASHSCOPE_API_KEY", "ark.cn-beijing.volces.com": "ARK_API_KEY",
                     "api.deepseek.com": "DEEPSEEK_API_KEY", "api.moonshot.cn": "MOONSHOT_API_KEY"}


def plain_api_url(value: str, example: str, key_hint: str) -> str:
    """An API root without a key in it: keys live in the environment, never in a config, log or ledger."""
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"base_url must be an http(s) URL such as {example}")
    secret_query = [k for k in parse_qs(parsed.query) if "key" in k.lower() or "token" in k.lower()]
    if parsed.username or parsed.password or secret_query:
        # Never echo the value: it would land in logs, the manifest and the append-only ledger.
        raise ValueError(f"base_url must not carry a key or password; put the key in {key_hint} and give the "
                         f"plain URL, e.g. {example}")
    return value.rstrip("/")


def host_of(url: str) -> str:
    """host[:port] of an API root: what identities and rate cards name, never the key."""
    parsed = urlparse(url)
    return parsed.hostname + (f":{parsed.port}" if parsed.port else "")


class ProviderConfig(Strict):
    base_url: str = Field(description="OpenAI-compatible endpoint, e.g. https://api.deepseek.com/v1")
    model: str = Field(min_length=1, description="model name, e.g. deepseek-chat, qwen-plus")
    api_key_env: str = Field(ENV_KEY, description="name of the environment variable that holds the key")
    timeout_s: float = Field(120.0, gt=0, le=3600, description="per request; local models may need minutes")
    max_retries: int = Field(4, ge=0, le=20, description="retries on 429, 5xx and timeouts")
    backoff_s: float = Field(1.0, ge=0, le=60, description="first retry delay; doubles each time")
    requests_per_minute: int = Field(60, ge=1, le=100000, description="client-side rate limit for this provider")
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(4096, ge=16, le=200000)
    json_mode: bool = Field(True, description="plain calls, and the json_object tier of auto, send "
                                              "response_format=json_object; turn off for servers without it")
    structured_output: Literal["auto", "json_schema", "tools", "json_object", "prompt"] = Field(
        "auto", description="how structured replies are asked for: auto tries json_schema (the JSON Schema in "
                            "response_format), then tools (a forced function call), then json_object, then a plain "
                            "prompt, and remembers what the server takes; name a tier to send exactly that")

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return plain_api_url(v, "https://api.deepseek.com/v1", f"{ENV_KEY} (or api_key_env)")

    @property
    def host(self) -> str:
        return host_of(self.base_url)

    @property
    def identity(self) -> str:
        """What the ledger's rate card matches on: the model and the host, never the key."""
        return f"openai-compatible {self.model}@{self.host}"

    def api_key(self) -> str | None:
        key = os.environ.get(self.api_key_env)
        standard = PROVIDER_KEY_ENVS.get(urlparse(self.base_url).hostname or "")
        if not key and standard and self.api_key_env == ENV_KEY:
            key = os.environ.get(standard)
        if key:
            return key
        try:  # optional: a key stored in the OS keyring under service "microdrama"
            import keyring  # type: ignore

            return keyring.get_password("microdrama", self.api_key_env)
        except Exception:
            return None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "ProviderConfig | None":
        """MICRODRAMA_LLM_BASE_URL (+ MICRODRAMA_LLM_MODEL, MICRODRAMA_LLM_API_KEY), or None if unset."""
        environ = os.environ if environ is None else environ
        url = environ.get(ENV_BASE_URL)
        if not url:
            return None
        model = environ.get(ENV_MODEL)
        if not model:
            raise InputError(f"{ENV_BASE_URL} is set but {ENV_MODEL} is not; set the model name too")
        from microdrama.domain import parse_model

        return parse_model(cls, {"base_url": url, "model": model}, source=f"{ENV_BASE_URL}/{ENV_MODEL}")
