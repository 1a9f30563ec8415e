"""A small OpenAI-compatible chat client: retries with backoff, a per-provider rate limit, usage
accounting for every attempt (including failed ones a provider bills), and structured output
validated against pydantic models with repair retries.

Servers differ in how they take structured output, so `structured()` works in tiers: the model's
JSON Schema as `response_format: json_schema` (strict where the schema allows), else a forced
tool/function call carrying the schema, else `json_object` with the shape in prose, else a plain
prompt. `structured_output: auto` steps down when a server refuses (HTTP 400/422 about the
format) or ignores a tier, and remembers per provider what worked. In every tier the reply is
extracted (Chinese models often wrap JSON in prose or code fences, or stop mid-object at the
token limit), validated, and on failure the error goes back with a request for a corrected
answer, up to `max_repairs` times, then the call fails with a clear message.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from microdrama.errors import MicrodramaError
from microdrama.files import atomic_write_text
from microdrama.llm.provider import ProviderConfig

M = TypeVar("M", bound=BaseModel)
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
SCHEMA_TIERS = ("json_schema", "tools")  # the schema travels in the request; no prose shape needed
# Words in a 400/422 that mean "this server does not take that structured-output feature".
FORMAT_WORDS = ("response_format", "json_schema", "schema", "tool", "function", "not support", "unsupported",
                "unavailable", "不支持")
# JSON Schema keywords OpenAI strict mode refuses; a schema using one is sent with strict: false.
NOT_STRICT_KEYWORDS = {"minLength", "maxLength", "patternProperties", "unevaluatedProperties", "propertyNames",
                       "minProperties", "maxProperties", "unevaluatedItems", "contains", "minContains",
                       "maxContains", "uniqueItems"}


class LLMError(MicrodramaError):
    """The provider could not give a usable answer; `usage` holds what was consumed on the way."""

    def __init__(self, message: str, usage: "LLMUsage", *, status: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.usage = usage
        self.status = status  # the last HTTP status, when the failure was an HTTP answer
        self.detail = detail  # the provider's own error text (key redacted): tells a refused format apart


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
    structured_calls: list[dict] = field(default_factory=list)  # per structured() call: tier, attempts, repairs

    # The tier each provider accepted, for the rest of the process: later calls skip the failed probes.
    _known_tiers: ClassVar[dict[str, str]] = {}
    _tiers_lock: ClassVar[threading.Lock] = threading.Lock()

    def __post_init__(self) -> None:
        self.limiter = RateLimiter.for_provider(self.provider.identity, self.provider.requests_per_minute)

    @classmethod
    def forget_tiers(cls) -> None:
        """Forget which tier each provider accepted (tests; a server upgraded while the process runs)."""
        with cls._tiers_lock:
            cls._known_tiers.clear()

    # -- one chat completion, with retries --------------------------------------------------------

    def complete(self, messages: list[dict], *, json_mode: bool | None = None, purpose: str = "chat") -> str:
        """The reply text of one chat completion (retried on 429, 5xx and timeouts)."""
        wants_json = json_mode if json_mode is not None else self.provider.json_mode
        extra = {"response_format": {"type": "json_object"}} if wants_json else {}
        return _reply_text(self._chat(messages, extra, purpose=purpose))

    def chat(self, messages: list[dict], *, tools: list[dict] | None = None, purpose: str = "chat") -> dict:
        """The reply message of one chat completion offered `tools` (OpenAI function schemas), as the server sent
        it: `content`, and `tool_calls` when the model calls tools. Retried and billed like `complete`."""
        return self._chat(messages, {"tools": tools, "tool_choice": "auto"} if tools else {}, purpose=purpose)

    def _chat(self, messages: list[dict], extra: dict, *, purpose: str, tier: str | None = None) -> dict:
        """The reply message of one chat completion, retried on 429, 5xx and timeouts; every attempt is billed."""
        p = self.provider
        body = {"model": p.model, "messages": messages, "temperature": p.temperature, "max_tokens": p.max_tokens,
                **extra}
        headers = {"Content-Type": "application/json"}
        key = p.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        delay, last_error, last_status, last_detail = p.backoff_s, "no attempt made", None, ""
        for attempt in range(p.max_retries + 1):
            self.limiter.wait()
            started = time.perf_counter()
            status, message, error, detail, raw = None, None, None, "", None
            try:
                with httpx.Client(timeout=p.timeout_s, transport=self.transport) as http:
                    response = http.post(f"{p.base_url}/chat/completions", json=body, headers=headers)
                status = response.status_code
                raw = response.text[:20000]
                payload = response.json() if response.content else {}
                self._count(payload)
                if status == 200:
                    message = payload["choices"][0]["message"]
                    if not isinstance(message, dict):
                        raise ValueError("choices[0].message is not an object")
                else:
                    detail = _error_text(payload)
                    error = f"HTTP {status}: {detail}"
            except httpx.TimeoutException:
                error = f"timed out after {p.timeout_s:g} s"
            except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            if error and key:  # a server that echoes the key back must not put it in logs or transcripts
                error, detail = error.replace(key, "***"), detail.replace(key, "***")
                raw = raw.replace(key, "***") if raw else raw
            self._record(purpose, attempt, body, status, None if message is None else _reply_text(message),
                         error, time.perf_counter() - started, tier=tier, raw=raw if error else None)
            if error is None:
                return message
            self.usage.failed_calls += 1
            last_error, last_status, last_detail = error, status, detail
            retryable = status is None or status in RETRY_STATUS
            if not retryable or attempt == p.max_retries:
                break
            self.sleep(delay)
            delay *= 2
        raise LLMError(f"{p.identity}: {last_error} (after {attempt + 1} attempt(s))", self.usage,
                       status=last_status, detail=last_detail)

    def _count(self, payload: dict) -> None:
        self.usage.calls += 1
        u = (payload.get("usage") if isinstance(payload, dict) else None) or {}
        self.usage.tokens_in += int(u.get("prompt_tokens") or 0)
        self.usage.tokens_out += int(u.get("completion_tokens") or 0)

    def _record(self, purpose, attempt, body, status, text, error, seconds, *, tier=None, raw=None) -> None:
        if self.transcript_dir is None:
            return
        entry = {"purpose": purpose, "attempt": attempt + 1, "model": self.provider.model,
                 "endpoint": self.provider.base_url, "tier": tier, "request": body, "status": status,
                 "response": text, "error": error, "seconds": round(seconds, 3)}
        if raw is not None:  # what a failing server actually sent, for the audit
            entry["raw_response"] = raw
        self._write_transcript(purpose, entry)

    def _write_transcript(self, purpose: str, entry: dict) -> None:
        self.transcript_dir.mkdir(parents=True, exist_ok=True)
        name = f"{time.strftime('%H%M%S')}-{purpose}-{uuid.uuid4().hex[:8]}.json"
        (self.transcript_dir / name).write_text(json.dumps(entry, ensure_ascii=False, indent=1), encoding="utf-8")

    # -- structured output: a tier per provider capability, with repair ---------------------------

    def structured(self, messages: list[dict], model: type[M], *, max_repairs: int = 3, purpose: str = "structured",
                   check=None, hint: str | None = None) -> M:
        """Ask for JSON matching `model`; send back validation errors until it is right or `max_repairs` ran out.

        The model's JSON Schema goes in the request (`response_format: json_schema`, or a forced tool
        call); `hint` describes the shape in prose and is added to the system message only in the
        tiers where the schema cannot travel in the request (json_object, prompt). With
        `structured_output: auto` a tier the server refuses (HTTP 400/422 about the format) or ignores
        steps down to the next one. `check(obj)` may raise ValueError for rules the schema cannot
        express (e.g. a hook in 3 s); it is repaired like a schema error in every tier.
        """
        schema, strict = schema_for(model)
        ladder = self._ladder()
        call = {"purpose": purpose, "schema": model.__name__, "tier": ladder[0], "strict": strict, "ok": False,
                "attempts": 0, "repairs": 0, "fallbacks": []}
        self.structured_calls.append(call)
        calls0, repairs0 = self.usage.calls, self.usage.repairs
        try:
            for step, tier in enumerate(ladder):
                call["tier"] = tier
                try:
                    obj = self._structured_in_tier(tier, messages, model, schema, strict, hint, max_repairs, purpose,
                                                   check, call, may_step_down=step < len(ladder) - 1)
                except _FormatRefused as refused:
                    call["fallbacks"].append({"tier": tier, "reason": refused.reason})
                    continue
                call["ok"] = True
                call.pop("last_reply", None)
                return obj
            raise AssertionError("the last tier never steps down")  # pragma: no cover
        except LLMError as exc:
            call["error"] = str(exc)
            if self.transcript_dir is not None:  # why the run failed, next to the prompts and replies
                self._write_transcript(f"{purpose}-failed", {
                    "purpose": purpose, "tier": call["tier"], "error": str(exc), "fallbacks": call["fallbacks"],
                    "last_reply": call.get("last_reply")})
            raise
        finally:
            call["attempts"] = self.usage.calls - calls0
            call["repairs"] = self.usage.repairs - repairs0

    def _ladder(self) -> list[str]:
        """The tiers to try, best first: the configured one, or (auto) from the one this provider accepted."""
        p = self.provider
        if p.structured_output != "auto":
            return [p.structured_output]
        ladder = ["json_schema", "tools", *(["json_object"] if p.json_mode else []), "prompt"]
        with self._tiers_lock:
            known = self._known_tiers.get(p.identity)
        return ladder[ladder.index(known):] if known in ladder else ladder

    def _remember(self, tier: str) -> None:
        if self.provider.structured_output == "auto":
            with self._tiers_lock:
                self._known_tiers[self.provider.identity] = tier

    def _structured_in_tier(self, tier, messages, model, schema, strict, hint, max_repairs, purpose, check, call, *,
                            may_step_down: bool):
        name = re.sub(r"[^A-Za-z0-9_-]", "_", model.__name__)[:64]
        extra = _tier_request(tier, name, schema, strict, model)
        history = list(messages) if tier in SCHEMA_TIERS else _with_hint(messages, hint or _schema_hint(schema))
        with self._tiers_lock:
            confirmed = self._known_tiers.get(self.provider.identity) == tier
        last = "no answer"
        for attempt in range(max_repairs + 1):
            try:
                message = self._chat(history, extra, purpose=purpose if attempt == 0 else f"{purpose}-repair{attempt}",
                                     tier=tier)
            except LLMError as exc:
                if attempt == 0 and _refuses_format(exc) and may_step_down:
                    raise _FormatRefused(f"HTTP {exc.status}: {exc.detail}") from None
                if attempt == 0 and _refuses_format(exc) and self.provider.structured_output != "auto":
                    raise LLMError(f"{exc}; the server does not take structured output as '{tier}': set "
                                   "llm.structured_output to 'auto' (it steps down to what the server takes) or to "
                                   "one of json_schema, tools, json_object, prompt", self.usage,
                                   status=exc.status, detail=exc.detail) from None
                raise
            text = _reply_text(message)
            call["last_reply"] = text[:500]  # kept only if the call fails: what the model last said
            if attempt == 0 and may_step_down and not confirmed and _ignores_format(tier, message, text):
                raise _FormatRefused(f"the reply ignored the requested {tier} format")
            self._remember(tier)
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
                             + ("Reply again with the complete corrected JSON object only — no prose, no code fences."
                                if tier != "tools" else f"Call {name} again with the complete corrected arguments.")}]
        raise LLMError(f"{self.provider.identity} gave no valid {model.__name__} after {max_repairs + 1} "
                       f"attempt(s) as {tier}; last problem: {last}", self.usage)

    # -- what the run folder and the manifest keep ------------------------------------------------

    def summary(self, **extra) -> dict:
        """The provider, the tier each structured call used and what was consumed: `llm/summary.json`."""
        calls = self.structured_calls
        return {"provider": self.provider.identity, "structured_output": self.provider.structured_output,
                "tier": calls[-1]["tier"] if calls else None, "calls": calls,
                "usage": self.usage.quantities(), **extra}

    def write_summary(self, path: Path, **extra) -> Path:
        atomic_write_text(path, json.dumps(self.summary(**extra), ensure_ascii=False, indent=1))
        return path


class _FormatRefused(Exception):
    """The server refused or ignored a structured-output tier; auto mode steps down to the next one."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def schema_for(model: type[BaseModel]) -> tuple[dict, bool]:
    """The model's JSON Schema with every object closed to extra keys, and whether OpenAI strict mode can take it.

    Strict mode needs every property required, no open-ended object (a `dict` field) and none of the
    keywords it refuses (minLength...); any other schema is sent with `strict: false` and pydantic
    validates the reply instead.
    """
    schema = copy.deepcopy(model.model_json_schema())
    strict = True

    def close(node) -> None:
        nonlocal strict
        if isinstance(node, list):
            for item in node:
                close(item)
            return
        if not isinstance(node, dict):
            return
        if NOT_STRICT_KEYWORDS & node.keys():
            strict = False
        if node.get("type") == "object" or isinstance(node.get("properties"), dict):
            props = node.get("properties") or {}
            if "additionalProperties" not in node and props:
                node["additionalProperties"] = False
            elif node.get("additionalProperties") is not False:
                strict = False
            if set(node.get("required", [])) != set(props):
                strict = False
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                for prop in value.values():
                    close(prop)
            elif key != "default":
                close(value)

    close(schema)
    return schema, strict


def _tier_request(tier: str, name: str, schema: dict, strict: bool, model: type[BaseModel]) -> dict:
    """The request fields that ask for structured output in one tier."""
    if tier == "json_schema":
        return {"response_format": {"type": "json_schema",
                                    "json_schema": {"name": name, "schema": schema, "strict": strict}}}
    if tier == "tools":
        doc = (model.__doc__ or "").strip().splitlines()
        description = doc[0] if doc else f"Give the answer as one {model.__name__} object."
        return {"tools": [{"type": "function", "function": {"name": name, "description": description,
                                                            "parameters": schema}}],
                "tool_choice": {"type": "function", "function": {"name": name}}}
    if tier == "json_object":
        return {"response_format": {"type": "json_object"}}
    return {}  # prompt: the shape is described in the system message only


def _with_hint(messages: list[dict], hint: str) -> list[dict]:
    """The messages with the prose shape description appended to the system message (or added as one)."""
    out = [dict(m) for m in messages]
    for m in out:
        if m.get("role") == "system":
            m["content"] = f"{m.get('content') or ''}\n{hint}".strip()
            return out
    return [{"role": "system", "content": hint}, *out]


def _schema_hint(schema: dict) -> str:
    return "Reply with one JSON object matching this JSON Schema:\n" + json.dumps(schema, ensure_ascii=False)


def _reply_text(message: dict) -> str:
    """The structured reply: the first tool call's arguments, else the message text."""
    calls = message.get("tool_calls") or []
    if calls:
        arguments = (calls[0].get("function") or {}).get("arguments")
        if isinstance(arguments, (dict, list)):  # some servers send the object rather than its JSON text
            return json.dumps(arguments, ensure_ascii=False)
        return str(arguments or "")
    content = message.get("content") or ""
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, ...]
        return "".join(part.get("text") or "" for part in content if isinstance(part, dict))
    return str(content)


def _refuses_format(exc: LLMError) -> bool:
    """An HTTP 400/422 that names the structured-output feature, as servers answer a format they lack."""
    detail = (exc.detail or "").lower()
    return exc.status in (400, 422) and any(word in detail for word in FORMAT_WORDS)


def _ignores_format(tier: str, message: dict, text: str) -> bool:
    """A 200 reply that shows the server dropped the format: no tool call and no JSON where one was forced."""
    if tier == "tools":
        return not message.get("tool_calls") and "{" not in text
    if tier == "json_schema":
        return "{" not in text
    return False


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
