"""A fake model that speaks the OpenAI chat-completions protocol, in process or over loopback HTTP.

Tests script its replies (JSON, HTTP errors, stalls) and it records every request. `fake_model`
answers in process through an `httpx.MockTransport` handed to the client (fast, no sockets);
`loopback_model` serves the same script from a real HTTP server on 127.0.0.1, for the tests
that must exercise the real network path (retries and billing over real connections).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from microdrama.llm.provider import ProviderConfig


class FakeModel:
    def __init__(self) -> None:
        self.script: deque = deque()
        self.requests: list[dict] = []
        self.responder = None  # fallback: callable(request_body) -> content string

    def reply(self, content: str, tokens_in: int = 100, tokens_out: int = 50) -> "FakeModel":
        self.script.append(("ok", content, tokens_in, tokens_out))
        return self

    def fail(self, status: int, message: str = "error") -> "FakeModel":
        self.script.append(("status", status, message))
        return self

    def stall(self, seconds: float, content: str = "{}") -> "FakeModel":
        self.script.append(("stall", seconds, content))
        return self

    def next(self, body: dict):
        if self.script:
            return self.script.popleft()
        if self.responder:
            return ("ok", self.responder(body), 120, 80)
        return ("status", 500, "script exhausted")

    def answer(self, path: str, headers: httpx.Headers, body: dict, timeout_s: float | None = None):
        """(status, payload) for one request; a stall longer than the client's timeout raises a timeout."""
        self.requests.append({"path": path, "headers": headers, "body": body})
        action = self.next(body)
        if action[0] == "stall":
            if timeout_s is not None and action[1] >= timeout_s:
                raise httpx.ReadTimeout(f"stalled {action[1]} s")
            time.sleep(action[1])
            action = ("ok", action[2], 10, 10)
        if action[0] == "status":
            return action[1], {"error": {"message": action[2], "type": "test"}}
        return 200, {"id": "chatcmpl-test", "object": "chat.completion", "model": body["model"],
                     "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": action[1]}}],
                     "usage": {"prompt_tokens": action[2], "completion_tokens": action[3],
                               "total_tokens": action[2] + action[3]}}

    def handle(self, request: httpx.Request) -> httpx.Response:
        """The in-process transport's handler."""
        timeout = (request.extensions.get("timeout") or {}).get("read")
        status, payload = self.answer(request.url.path, request.headers, json.loads(request.content), timeout)
        return httpx.Response(status, json=payload)


@pytest.fixture
def fake_model() -> FakeModel:
    """In process: clients get `transport=fake_model.transport`."""
    model = FakeModel()
    model.transport = httpx.MockTransport(model.handle)
    model.url = "http://fake-model.invalid/v1"
    return model


@pytest.fixture
def loopback_model():
    """The same fake behind a real HTTP server on 127.0.0.1."""
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
