"""A small OpenAI-compatible chat client: retries with backoff, a per-provider rate limit, usage
accounting for every attempt (including failed ones a provider bills), and structured output
validated against pydantic models with repair retries.

Chinese models often wrap JSON in prose or code fences, or stop mid-object when they hit the
token limit; `structured()` extracts the JSON, validates it, and on failure sends the error back
and asks for a corrected answer, up to `max_repairs` times, then fails with a clear message.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from microdrama.errors import MicrodramaError
from microdrama.llm.provider import ProviderConfig

M = TypeVar("M", bound=BaseModel)
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class LLMError(MicrodramaError):
    """The provider could not give a usable answer; `usage` holds what was consumed on the way."""

    def __init__(self, message: str, usage: "LLMUsage") -> None:
        super().__init__(message)
        self.usage = usage


@dataclass
class LLMUsage:
    tokens_in: int = 0
    tokens_out: int = 0
    calls: int = 0
    failed_calls: int = 0
    repairs: int = 0

    def add(self, other: "LLMUsage") -> None:
        for f in ("tokens_in", "tokens_out", "calls", "failed_calls", "repairs"):
            setattr(self, f, getattr(self, f) + getattr(other, f))

    def quantities(self) -> dict[str, float]:
        return {"tokens_in": float(self.tokens_in), "tokens_out": float(self.tokens_out),
                "api_calls": float(self.calls), "api_calls_failed": float(self.failed_calls),
                "json_repairs": float(self.repairs)}


class RateLimiter:
    """At most `per_minute` requests per rolling minute, shared by every thread using the provider."""

    _shared: dict[str, "RateLimiter"] = {}
    _lock = threading.Lock()

    def __init__(self, per_minute: int) -> None:
        self.interval = 60.0 / per_minute
        self.next_free = 0.0
        self.lock = threading.Lock()

    @classmethod
    def for_provider(cls, key: str, per_minute: int) -> "RateLimiter":
        with cls._lock:
            if key not in cls._shared or cls._shared[key].interval != 60.0 / per_minute:
                cls._shared[key] = cls(per_minute)
            return cls._shared[key]

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_free)
            self.next_free = start + self.interval
        if start > now:
            time.sleep(start - now)


@dataclass
class ChatClient:
    provider: ProviderConfig
    transcript_dir: Path | None = None  # every request/response is kept here for audit (never the key)
    sleep: callable = time.sleep
    usage: LLMUsage = field(default_factory=LLMUsage)
    transport: httpx.BaseTransport | None = None  # tests hand in an httpx.MockTransport; None = real HTTP

    def __post_init__(self) -> None:
        self.limiter = RateLimiter.for_provider(self.provider.identity, self.provider.requests_per_minute)

    # -- one chat completion, with retries --------------------------------------------------------

    def complete(self, messages: list[dict], *, json_mode: bool | None = None, purpose: str = "chat") -> str:
        p = self.provider
        body = {"model": p.model, "messages": messages, "temperature": p.temperature, "max_tokens": p.max_tokens}
        if json_mode if json_mode is not None else p.json_mode:
            body["response_format"] = {"type": "json_object"}
        headers = {"Content-Type": "application/json"}
        key = p.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        delay, last_error = p.backoff_s, "no attempt made"
        for attempt in range(p.max_retries + 1):
            self.limiter.wait()
            started = time.perf_counter()
            status, text, error = None, None, None
            try:
                with httpx.Client(timeout=p.timeout_s, transport=self.transport) as http:
                    response = http.post(f"{p.base_url}/chat/completions", json=body, headers=headers)
                status = response.status_code
                payload = response.json() if response.content else {}
                self._count(payload)
                if status == 200:
                    text = payload["choices"][0]["message"].get("content") or ""
                else:
                    error = f"HTTP {status}: {_error_text(payload)}"
            except httpx.TimeoutException:
                error = f"timed out after {p.timeout_s:g} s"
            except (httpx.HTTPError, ValueError, KeyError, IndexError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            if error and key:  # a server that echoes the key back must not put it in logs or transcripts
                error = error.replace(key, "***")
            self._record(purpose, attempt, body, status, text, error, time.perf_counter() - started)
            if error is None:
                return text
            self.usage.failed_calls += 1
            last_error = error
            retryable = status is None or status in RETRY_STATUS
            if not retryable or attempt == p.max_retries:
                break
            self.sleep(delay)
            delay *= 2
        raise LLMError(f"{p.identity}: {last_error} (after {attempt + 1} attempt(s))", self.usage)

    def _count(self, payload: dict) -> None:
        self.usage.calls += 1
        u = payload.get("usage") or {}
        self.usage.tokens_in += int(u.get("prompt_tokens") or 0)
        self.usage.tokens_out += int(u.get("completion_tokens") or 0)

    def _record(self, purpose, attempt, body, status, text, error, seconds) -> None:
        if self.transcript_dir is None:
            return
        self.transcript_dir.mkdir(parents=True, exist_ok=True)
        entry = {"purpose": purpose, "attempt": attempt + 1, "model": self.provider.model,
                 "endpoint": self.provider.base_url, "request": body, "status": status, "response": text,
                 "error": error, "seconds": round(seconds, 3)}
        name = f"{time.strftime('%H%M%S')}-{purpose}-{uuid.uuid4().hex[:8]}.json"
        (self.transcript_dir / name).write_text(json.dumps(entry, ensure_ascii=False, indent=1), encoding="utf-8")

    # -- structured output with repair ------------------------------------------------------------

    def structured(self, messages: list[dict], model: type[M], *, max_repairs: int = 3, purpose: str = "structured",
                   check=None) -> M:
        """Ask for JSON matching `model`; send back validation errors until it is right or `max_repairs` ran out.

        `check(obj)` may raise ValueError for rules the schema cannot express (e.g. a hook in 3 s).
        """
        history = list(messages)
        last = "no answer"
        for attempt in range(max_repairs + 1):
            text = self.complete(history, purpose=purpose if attempt == 0 else f"{purpose}-repair{attempt}")
            try:
                obj = model.model_validate(extract_json(text))
                if check is not None:
                    check(obj)
                return obj
            except (ValueError, ValidationError) as exc:
                last = _short_error(exc)
                if attempt == max_repairs:
                    break
                self.usage.repairs += 1
                history += [{"role": "assistant", "content": text[:20000]},
                            {"role": "user", "content": f"That reply was not valid: {last}\n"
                             "Reply again with the complete corrected JSON object only — no prose, no code fences."}]
        raise LLMError(f"{self.provider.identity} gave no valid {model.__name__} after {max_repairs + 1} "
                       f"attempt(s); last problem: {last}", self.usage)


def billed(exc: LLMError, skill, options) -> MicrodramaError:
    """Turn a failed LLM call into a BilledError carrying the tokens the provider still charged."""
    from microdrama.errors import BilledError
    from microdrama.skill import Usage

    usage = Usage(skill=skill.name, version=skill.version, backend=skill.backend_for(options),
                  quantities=exc.usage.quantities())
    return BilledError(str(exc), usage)


def extract_json(text: str) -> object:
    """The JSON object in a reply, tolerating code fences and prose around it."""
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.S)
    candidate = fenced.group(1) if fenced else text
    start = candidate.find("{")
    if start < 0:
        raise ValueError("the reply contains no JSON object")
    depth, in_string, escape = 0, False, False
    for i, ch in enumerate(candidate[start:], start):
        if in_string:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return json.loads(candidate[start:i + 1])
    raise ValueError("the JSON object is cut off (truncated reply?)")


def _short_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:8]]
        return "; ".join(parts)
    return str(exc)[:500]


def _error_text(payload: dict) -> str:
    err = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(err, dict):
        return str(err.get("message", err))[:300]
    return str(err or payload)[:300]
