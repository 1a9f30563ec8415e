"""The producer agent with a scripted tool-calling model and a fake render worker (in process, no Prefect):
refused arguments the model can read, a failing tool, the hard limits (budget, tool calls, approval), the
decision log beside the manifest, and token and tool costs in the ledger under the agent's project code."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from microdrama.agents.base import AgentDeps
from microdrama.agents.producer import ProducerAgent, ProduceTask
from microdrama.config import ProjectConfig
from microdrama.ledger import Ledger, ledger_url
from microdrama.llm.client import ChatClient
from microdrama.tools import Toolbox
from tests.agents.fakes import BRIEF, TINY, FakeWorker, ScriptedToolModel

# deepseek-chat on the rate card: 1.99 RMB per 1M tokens in, 2.98 out -> 200k in + 50k out = 0.547 RMB a call
COSTLY = dict(tokens_in=200_000, tokens_out=50_000)


@pytest.fixture
def brief(tmp_path):
    path = tmp_path / "brief.yaml"
    path.write_text(BRIEF, encoding="utf-8")
    return path


def produce(tmp_path, brief, model, worker=None, **limits):
    box = Toolbox(tmp_path / "out", ProjectConfig.model_validate(TINY), worker=worker or FakeWorker(),
                  project_code=ProducerAgent.project_code, caller="producer")
    task = ProduceTask(source=brief, name="ep1", **{"budget_rmb": Decimal(10), **limits})
    client = ChatClient(model.provider(), transport=model.transport)
    result = ProducerAgent(box).run(AgentDeps(client=client), task)
    log = json.loads((tmp_path / "out" / "ep1" / "producer.json").read_text(encoding="utf-8"))
    return result, log, box


def test_a_bad_argument_and_a_failing_tool_are_read_by_the_model_and_the_budget_stops_it_cleanly(tmp_path, brief):
    model = ScriptedToolModel(**COSTLY)
    model.call("Check the brief first.", ("validate", {"txt": BRIEF}))
    model.call("Fix the field name.", ("validate", {"text": BRIEF}))
    model.call("It is valid: render it.", ("render_episode", {"source": str(brief), "name": "ep1"}))
    model.call("Try once more.", ("render_episode", {"source": str(brief), "name": "ep1"}))  # never sent
    result, log, box = produce(tmp_path, brief, model, FakeWorker(crash=1), budget_rmb=Decimal(2))

    assert result.status == "stopped" and result.reason.startswith("budget: the next model call would cost about")
    assert len(model.requests) == 3 and model.turns  # stopped before the 4th call, the script not played out
    replies = model.tool_replies()
    assert "txt: unknown key; did you mean 'text'?" in replies[0]  # the refusal reached the model, readable
    assert json.loads(replies[1])["valid"] is True
    assert Decimal(result.spent_rmb) <= Decimal(2)  # nothing over budget

    assert log["status"] == "stopped" and log["reason"] == result.reason
    tools = [s for s in log["steps"] if s["kind"] == "tool"]
    assert [(s["tool"], s["ok"]) for s in tools] == [("validate", False), ("validate", True),
                                                    ("render_episode", False)]
    assert tools[2]["result"] == "error: render_episode failed: RuntimeError: render worker lost its GPU"
    assert tools[0]["arguments"] == {"txt": BRIEF} and tools[0]["why"] == "Check the brief first."
    assert all(Decimal(s["spent_rmb"]) <= Decimal(2) for s in log["steps"])
    assert log["steps"][-1]["kind"] == "stop" and log["steps"][-1]["why"].startswith("budget")

    entries = Ledger(ledger_url(None, box.out_dir)).entries(project="RD-AGENT-PRODUCER")
    model_entries = [e for e in entries if e.skill == "agent-producer"]
    assert {e.category for e in model_entries} == {"model_api"} and len({e.artifact_key for e in model_entries}) == 3
    assert sorted({e.skill for e in entries} - {"agent-producer"}) == ["tool-render_episode", "tool-validate"]
    assert sum((e.amount_rmb_stored for e in entries), Decimal(0)) == box.spent  # what the budget counted


def test_it_renders_reviews_redoes_the_worst_shot_and_finishes(tmp_path, brief):
    model = ScriptedToolModel()
    model.call("Validate.", ("validate", {"text": BRIEF}))
    model.call("Price it.", ("quote_episode", {"source": str(brief)}))
    model.call("Render.", ("render_episode", {"source": str(brief), "name": "ep1"}))
    model.call("Wait for it.", ("job_status", {"job_id": "placeholder", "wait_s": 0}))
    model.call("Review.", ("list_takes", {"run": "ep1"}))
    model.call("s02 has the worst dub QA (0.6).", ("render_shot", {"run": "ep1", "shot_id": "s02", "note": "CER"}))
    model.call("Keep the new take, drop the old.",
               ("approve_take", {"run": "ep1", "shot_id": "s02", "take": 2}),
               ("reject_take", {"run": "ep1", "shot_id": "s02", "take": 1, "reason": "CER 0.6"}))
    model.finish("Done: ep1 rendered, s02 redone.")
    worker = FakeWorker()
    result, log, box = produce(tmp_path, brief, model, worker)

    assert result.status == "finished" and result.reason == "Done: ep1 rendered, s02 redone."
    assert [s["reason"] for s in worker.submitted] == ["render_episode", "shot s02: 1 more take(s)"]
    assert worker.submitted[1]["budget_rmb"] <= Decimal(10)  # a render gets only what is left
    assert result.tool_calls == 8 and result.model_calls == 8
    assert "no render job 'placeholder'" in model.tool_replies()[3]
    review = json.loads((tmp_path / "out" / "ep1" / "review.json").read_text())
    assert [(d["take"], d["verdict"]) for d in review["decisions"]] == [(2, "approved"), (1, "rejected")]
    assert (tmp_path / "out" / "ep1" / "manifest.json").is_file()  # the log lies beside the manifest
    assert log["status"] == "finished" and log["limits"]["budget_rmb"] == "10"


def test_the_tool_call_limit_cannot_be_talked_past(tmp_path, brief):
    model = ScriptedToolModel()
    for _ in range(5):
        model.call("Again.", ("validate", {"text": BRIEF}))
    result, log, _ = produce(tmp_path, brief, model, max_calls=2)
    assert result.status == "stopped" and result.reason == "max tool calls: 2 made" and result.tool_calls == 2


def test_approval_mode_pauses_before_spending_past_the_line(tmp_path, brief):
    model = ScriptedToolModel(**COSTLY)
    model.call("Validate.", ("validate", {"text": BRIEF}))
    model.call("Render.", ("render_episode", {"source": str(brief), "name": "ep1"}))
    worker = FakeWorker()
    result, log, _ = produce(tmp_path, brief, model, worker, approve_above_rmb=Decimal("0.8"))
    assert result.status == "paused" and result.reason.startswith("approval needed: the next model call")
    assert "--approve-above" in result.reason and not worker.submitted
    assert Decimal(result.spent_rmb) <= Decimal("0.8") and len(model.requests) == 1


@pytest.mark.slow
def test_produce_makes_a_real_episode_within_budget_with_its_log_in_the_manifest(tmp_path, brief, prefect_harness):
    from microdrama.pipelines.studio import RenderWorker
    from microdrama.run import Manifest

    def job(replies):
        return {"job_id": json.loads(replies[-1])["job_id"], "wait_s": 60}

    model = ScriptedToolModel()
    model.call("Check the brief.", ("validate", {"text": BRIEF}))
    model.call("Price it before spending.", ("quote_episode", {"source": str(brief)}))
    model.call("Within budget: render.", ("render_episode", {"source": str(brief), "name": "ep1"}))
    model.call("Wait for it.", ("job_status", job))
    model.call("Review the takes.", ("list_takes", {"run": "ep1"}))
    model.call("The opening shot passes its checks.", ("approve_take", {"run": "ep1", "shot_id": "s01", "take": 1}))
    model.finish("Rendered ep1 within budget; s01 approved.")
    result, log, box = produce(tmp_path, brief, model, RenderWorker().start(warm=False), budget_rmb=Decimal(1))

    assert result.status == "finished", result.reason
    assert [s["tool"] for s in log["steps"] if s["kind"] == "tool"] == [
        "validate", "quote_episode", "render_episode", "job_status", "list_takes", "approve_take"]
    assert all(s["ok"] for s in log["steps"] if s["kind"] == "tool"), log["steps"]
    manifest = Manifest.read(tmp_path / "out" / "ep1")
    assert (tmp_path / "out" / "ep1" / "episode.mp4").is_file()
    assert manifest.producer["status"] == "finished" and manifest.producer["tool_calls"] == 6
    assert Decimal(manifest.producer["spent_rmb"]) <= Decimal(1)
    entries = Ledger(ledger_url(None, tmp_path / "out")).entries()
    assert ProducerAgent.project_code in {e.project_code for e in entries}  # the agent's tokens and tool calls
    assert any(e.run_id == manifest.run_id for e in entries)  # and the episode's render, attributed to its run
