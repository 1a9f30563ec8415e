"""Provider configuration. The API key lives only in the environment (or the OS keyring), never in
config files, manifests, run folders, transcripts or the ledger."""

from __future__ import annotations

import os
from typing import Mapping
from urllib.parse import urlparse

from pydantic import Field, field_validator

from microdrama.domain import Strict
from microdrama.errors import InputError

ENV_BASE_URL, ENV_MODEL, ENV_KEY = "MICRODRAMA_LLM_BASE_URL", "MICRODRAMA_LLM_MODEL", "MICRODRAMA_LLM_API_KEY"


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
    json_mode: bool = Field(True, description="send response_format=json_object (turn off for servers without it)")

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        parsed = urlparse(v)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"base_url {v!r} must be an http(s) URL such as https://api.deepseek.com/v1")
        return v.rstrip("/")

    @property
    def identity(self) -> str:
        """What the ledger's rate card matches on: the model and the host, never the key."""
        return f"openai-compatible {self.model}@{urlparse(self.base_url).netloc}"

    def api_key(self) -> str | None:
        key = os.environ.get(self.api_key_env)
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
        return cls(base_url=url, model=model)
