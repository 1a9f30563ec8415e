"""In-process fakes for the agent tool set: a render worker that writes a finished run folder at once, and a
scripted tool-calling model speaking the OpenAI chat-completions protocol."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from microdrama.config import ProjectConfig
from microdrama.llm.provider import ProviderConfig
from microdrama.review import ReviewLog
from tests.conftest import TINY_SCREENPLAY

TINY = {"project_code": "RD-EPISODE", "render": {"width": 270, "height": 480, "fps": 5},
        "subtitles": {"font_size": 18}, "qa": {"dub_qa": "off"}}
BRIEF = "title: 测试\npremise: 被赶出家门的千金归来，向赵总讨回公道\ngenre: revenge\ntarget_seconds: 20\n"
QA = {"s01-l1": 0.1, "s02-l1": 0.6, "s02-l2": 0.2, "s03-l1": 0.0}  # s02 is the worst shot


def write_run(folder: Path, takes: int = 1, run_id: str | None = None) -> dict[str, Any]:
    """A finished run folder as the pipeline leaves it (screenplay, manifest), without rendering anything."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "screenplay.yaml").write_text(yaml.safe_dump(TINY_SCREENPLAY, allow_unicode=True), encoding="utf-8")
    review = ReviewLog.load(folder)
    log = []
    for shot in ("s01", "s02", "s03"):
        keys = {t: f"k-{shot}-{t}" for t in range(1, review.takes_for(shot, takes) + 1)}
        chosen = review.in_cut(shot, keys)
        for t, key in keys.items():
            d = review.verdict(shot, t, key)
            log.append({"shot_id": shot, "take": t, "key": key, "cost": "0.0100", "cached": False,
                        "in_cut": t == chosen, "source": "animatic",
                        "status": d.verdict if d else "accepted" if t == chosen else "awaiting review"})
    manifest = {"run_id": run_id or f"fake-{uuid.uuid4().hex[:6]}",
                "config": ProjectConfig.model_validate(TINY).model_dump(mode="json"),
                "episode": {"duration_s": 10.0}, "writing": {"target_s": 12},
                "takes": {"per_shot": takes, "takes": log, "usable_take_rate": 1.0},
                "dub_qa": {"skipped": None, "lines": [
                    {"line_id": k, "expected": "", "heard": "", "metric": "cer", "score": v, "flagged": v > 0.5}
                    for k, v in QA.items()]},
                "character_consistency": {"lin": {"shots": 2, "mean_similarity": 0.9},
                                          "zhao": {"shots": 2, "mean_similarity": 0.5}},
                "labels": [{"path": str(folder / "episode.mp4"), "ok": True, "clauses": [{"clause": "visible",
                                                                                          "ok": True}]}],
                "cost": {"this_run": "0.0300"}}
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return manifest


@dataclass
class FakeJob:
    run_name: str
    reasons: list[str]
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    state: str = "done"
    lines: list[str] = field(default_factory=list)
    error: str | None = None
    summary: dict | None = None
    queued_at: float = field(default_factory=time.time)
    seconds: float | None = 0.0


class FakeWorker:
    """RenderWorker's interface: `submit` 'renders' at once by writing the run folder; `crash` submits raise."""

    def __init__(self, crash: int = 0) -> None:
        self.jobs: dict[str, FakeJob] = {}
        self.submitted: list[dict[str, Any]] = []
        self.crash = crash

    def submit(self, run_name, reason, *, config, source, out_dir, takes=1, budget_rmb=None):
        if self.crash:
            self.crash -= 1
            raise RuntimeError("render worker lost its GPU")
        self.submitted.append({"run": run_name, "reason": reason, "source": Path(source), "takes": takes,
                               "budget_rmb": budget_rmb})
        manifest = write_run(Path(out_dir) / run_name, takes)
        job = FakeJob(run_name, [reason], lines=[f"run → {run_name}", "done"],
                      summary={"run_id": manifest["run_id"]})
        self.jobs[job.id] = job
        return job

    def busy(self, run_name):
        return None


class ScriptedToolModel:
    """A model that plays a fixed list of turns: tool calls (with a reason) or a final answer."""

    def __init__(self, tokens_in: int = 1000, tokens_out: int = 200) -> None:
        self.turns: list[dict] = []
        self.requests: list[dict] = []
        self.tokens = (tokens_in, tokens_out)
        self.transport = httpx.MockTransport(self.handle)
        self.url = "http://fake-model.invalid/v1"

    def call(self, why: str, *calls: tuple[str, Any]) -> "ScriptedToolModel":
        """A turn of tool calls; an argument may be a function of the tool replies so far (a job id to poll)."""
        self.turns.append({"role": "assistant", "content": why, "tool_calls": [
            {"id": f"call_{len(self.turns)}_{i}", "type": "function", "function": {"name": name, "arguments": args}}
            for i, (name, args) in enumerate(calls)]})
        return self

    def finish(self, text: str) -> "ScriptedToolModel":
        self.turns.append({"role": "assistant", "content": text})
        return self

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        if not self.turns:
            return httpx.Response(500, json={"error": {"message": "script exhausted"}})
        message = self.turns.pop(0)
        replies = [m["content"] for m in body["messages"] if m["role"] == "tool"]
        for call in message.get("tool_calls", []):
            args = call["function"]["arguments"]
            args = args(replies) if callable(args) else args
            call["function"]["arguments"] = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
        return httpx.Response(200, json={
            "id": "chatcmpl-test", "object": "chat.completion", "model": body["model"],
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if message.get("tool_calls") else "stop"}],
            "usage": {"prompt_tokens": self.tokens[0], "completion_tokens": self.tokens[1]}})

    def tool_replies(self) -> list[str]:
        """What the model was told about its tool calls, in order (the last request holds them all)."""
        return [m["content"] for m in self.requests[-1]["messages"] if m["role"] == "tool"] if self.requests else []

    def provider(self) -> ProviderConfig:
        return ProviderConfig(base_url=self.url, model="deepseek-chat", timeout_s=5, max_retries=0,
                              requests_per_minute=6000)
