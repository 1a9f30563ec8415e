"""A fake model that speaks the OpenAI chat-completions protocol, in process or over loopback HTTP.

Tests script its replies (JSON, HTTP errors, stalls) and it records every request. `fake_model`
answers in process through an `httpx.MockTransport` handed to the client (fast, no sockets);
`loopback_model` serves the same script from a real HTTP server on 127.0.0.1, for the tests
that must exercise the real network path (retries and billing over real connections).

Capability mode: `supports={"json_schema"}` (or `{"tools"}`, `{"json_object"}`) makes it behave
like a server that takes only that structured-output feature: any other `response_format` or
`tools` in a request is refused with HTTP 400, worded as real providers word it, before a scripted
reply is used. A tools request it supports is answered in the `tool_calls` shape. `supports=None`
is a lenient server that accepts every request and always answers in `content`.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from microdrama.llm.client import ChatClient
from microdrama.llm.provider import ProviderConfig

# How real servers refuse a structured-output feature they lack (OpenAI, DeepSeek, Ollama wording).
REFUSALS = {"json_schema": "Invalid parameter: 'response_format' of type 'json_schema' is not supported with "
                           "this model.",
            "json_object": "This response_format type is unavailable now",
            "tools": "registry.ollama.ai/library/gemma:2b does not support tools"}


class FakeModel:
    def __init__(self, supports: set[str] | None = None) -> None:
        self.script: deque = deque()
        self.requests: list[dict] = []
        self.responder = None  # fallback: callable(request_body) -> content string
        self.supports = supports  # None: accepts every request feature and answers in `content`

    def reply(self, content: str, tokens_in: int = 100, tokens_out: int = 50) -> "FakeModel":
        self.script.append(("ok", content, tokens_in, tokens_out))
        return self

    def fail(self, status: int, message: str = "error", tokens_in: int = 0, tokens_out: int = 0) -> "FakeModel":
        """An HTTP error; with tokens, one the provider still bills (its error payload carries usage)."""
        self.script.append(("status", status, message, tokens_in, tokens_out))
        return self

    def refusal(self, body: dict) -> str | None:
        """The 400 message for a structured-output feature this server does not take, or None."""
        if self.supports is None:
            return None
        wanted = (body.get("response_format") or {}).get("type")
        if wanted and wanted not in self.supports:
            return REFUSALS.get(wanted, f"response_format '{wanted}' is not supported")
        if "tools" in body and "tools" not in self.supports:
            return REFUSALS["tools"]
        return None

    def tiers_sent(self) -> list[str]:
        """The structured-output tier of each request received, in order."""
        def tier(body: dict) -> str:
            if "tools" in body:
                return "tools"
            return (body.get("response_format") or {}).get("type", "prompt")

        return [tier(r["body"]) for r in self.requests]

    def stall(self, seconds: float, content: str = "{}") -> "FakeModel":
        self.script.append(("stall", seconds, content))
        return self

    def next(self, body: dict):
        if self.script:
            return self.script.popleft()
        if self.responder:
            return ("ok", self.responder(body), 120, 80)
        return ("status", 500, "script exhausted", 0, 0)

    def answer(self, path: str, headers: httpx.Headers, body: dict, timeout_s: float | None = None):
        """(status, payload) for one request; a stall longer than the client's timeout raises a timeout."""
        self.requests.append({"path": path, "headers": headers, "body": body})
        refused = self.refusal(body)
        if refused:  # refused before the model runs: no scripted reply is used, nothing billed
            return 400, {"error": {"message": refused, "type": "invalid_request_error", "param": "response_format"}}
        action = self.next(body)
        if action[0] == "stall":
            if timeout_s is not None and action[1] >= timeout_s:
                raise httpx.ReadTimeout(f"stalled {action[1]} s")
            time.sleep(action[1])
            action = ("ok", action[2], 10, 10)
        if action[0] == "status":
            payload = {"error": {"message": action[2], "type": "test"}}
            if action[3] or action[4]:
                payload["usage"] = {"prompt_tokens": action[3], "completion_tokens": action[4]}
            return action[1], payload
        message = {"role": "assistant", "content": action[1]}
        finish = "stop"
        if self.supports is not None and "tools" in self.supports and body.get("tools"):
            name = body["tools"][0]["function"]["name"]
            message = {"role": "assistant", "content": None, "tool_calls": [
                {"id": f"call_{len(self.requests)}", "type": "function",
                 "function": {"name": name, "arguments": action[1]}}]}
            finish = "tool_calls"
        return 200, {"id": "chatcmpl-test", "object": "chat.completion", "model": body["model"],
                     "choices": [{"index": 0, "finish_reason": finish, "message": message}],
                     "usage": {"prompt_tokens": action[2], "completion_tokens": action[3],
                               "total_tokens": action[2] + action[3]}}

    def handle(self, request: httpx.Request) -> httpx.Response:
        """The in-process transport's handler."""
        timeout = (request.extensions.get("timeout") or {}).get("read")
        status, payload = self.answer(request.url.path, request.headers, json.loads(request.content), timeout)
        return httpx.Response(status, json=payload)


@pytest.fixture(autouse=True)
def _fresh_tier_memory():
    """Each test starts without a remembered structured-output tier (the fakes share one identity)."""
    ChatClient.forget_tiers()
    yield
    ChatClient.forget_tiers()


@pytest.fixture
def fake_model() -> FakeModel:
    """In process: clients get `transport=fake_model.transport`."""
    ChatClient.forget_tiers()
    model = FakeModel()
    model.transport = httpx.MockTransport(model.handle)
    model.url = "http://fake-model.invalid/v1"
    return model


@pytest.fixture
def loopback_model():
    """The same fake behind a real HTTP server on 127.0.0.1."""
    ChatClient.forget_tiers()
    model = FakeModel()
    model.transport = None

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, payload = model.answer(self.path, httpx.Headers(dict(self.headers)), body)
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    model.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield model
    server.shutdown()
    server.server_close()


def provider_for(model: FakeModel, monkeypatch) -> ProviderConfig:
    monkeypatch.setenv("MICRODRAMA_LLM_API_KEY", "sk-test-SECRET-never-in-files")
    return ProviderConfig(base_url=model.url, model="deepseek-chat", timeout_s=5, max_retries=2, backoff_s=0.01,
                          requests_per_minute=6000)


@pytest.fixture
def provider(fake_model, monkeypatch) -> ProviderConfig:
    return provider_for(fake_model, monkeypatch)


@pytest.fixture
def loopback_provider(loopback_model, monkeypatch) -> ProviderConfig:
    return provider_for(loopback_model, monkeypatch)
