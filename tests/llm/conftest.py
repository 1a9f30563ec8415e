"""A real HTTP server on loopback that speaks the OpenAI chat-completions protocol.

Tests script its replies (JSON, HTTP errors, delays) and it records every request, so the
production client code is exercised end to end without touching the internet.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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


@pytest.fixture
def fake_model():
    model = FakeModel()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            model.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            action = model.next(body)
            if action[0] == "stall":
                time.sleep(action[1])
                action = ("ok", action[2], 10, 10)
            if action[0] == "status":
                payload, status = {"error": {"message": action[2], "type": "test"}}, action[1]
            else:
                status = 200
                payload = {"id": "chatcmpl-test", "object": "chat.completion", "model": body["model"],
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": action[1]}}],
                           "usage": {"prompt_tokens": action[2], "completion_tokens": action[3],
                                     "total_tokens": action[2] + action[3]}}
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


@pytest.fixture
def provider(fake_model, monkeypatch) -> ProviderConfig:
    monkeypatch.setenv("MICRODRAMA_LLM_API_KEY", "sk-test-SECRET-never-in-files")
    return ProviderConfig(base_url=fake_model.url, model="deepseek-chat", timeout_s=5, max_retries=2, backoff_s=0.01,
                          requests_per_minute=6000)
