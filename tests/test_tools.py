"""The agent tool set: generated schemas, arguments checked like CLI input, readable errors, metering, budget,
and the review tools over a run folder (with an in-process fake render worker: no Prefect here)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from microdrama.config import ProjectConfig
from microdrama.ledger import Ledger, ledger_url
from microdrama.review import ReviewLog
from microdrama.tools import TOOLS, Toolbox, openai_tools
from tests.agents.fakes import BRIEF, TINY, FakeWorker, write_run


@pytest.fixture
def box(tmp_path):
    return Toolbox(tmp_path / "out", ProjectConfig.model_validate(TINY), worker=FakeWorker(), project_code="RD-TOOLS")


def test_the_tool_set_is_exported_as_openai_function_schemas_generated_from_the_input_models():
    schemas = openai_tools()
    assert [s["function"]["name"] for s in schemas] == list(TOOLS)
    for s in schemas:
        assert s["type"] == "function" and s["function"]["description"]
        params = s["function"]["parameters"]
        assert params["type"] == "object" and params["additionalProperties"] is False
        assert set(params["properties"]) == set(TOOLS[s["function"]["name"]].Input.model_fields)
    validate = next(s for s in schemas if s["function"]["name"] == "validate")["function"]["parameters"]
    assert validate["required"] == ["text"] and validate["properties"]["kind"]["enum"] == ["auto", "brief",
                                                                                          "screenplay"]


def test_a_bad_argument_is_refused_with_the_field_and_the_fix_never_a_traceback(box):
    r = box.call("validate", {"txt": BRIEF})
    assert not r.ok and "txt: unknown key; did you mean 'text'?" in r.error and "Traceback" not in r.error
    assert box.call("validate", "{not json").error.startswith("arguments of validate are not valid JSON")
    assert "the tools are: list_skills" in box.call("render_movie", {}).error
    r = box.call("quote_episode", {"source": "a.yaml", "text": BRIEF})
    assert "give exactly one of `source`" in r.error
    r = box.call("list_takes", {"run": "../etc"})
    assert not r.ok and "run name" in r.error  # an InputError's message goes back as it is


def test_validate_explains_a_bad_brief_and_accepts_a_good_one(box):
    bad = box.call("validate", {"text": "title: 测试\ngenre: horror\n"})
    assert bad.ok and bad.data["valid"] is False and bad.data["kind"] == "brief"
    assert "premise: Field required" in bad.data["errors"] and "genre" in bad.data["errors"]
    assert box.call("validate", {"text": BRIEF}).data == {"valid": True, "kind": "brief", "errors": ""}


def test_every_call_is_metered_in_the_ledger_under_the_project_code(box):
    box.call("list_skills", {"stage": "compose"})
    box.call("validate", {"txt": 1})  # a refused call costs the caller's time too
    entries = Ledger(ledger_url(None, box.out_dir)).entries(project="RD-TOOLS")
    assert [e.skill for e in entries] == ["tool-list_skills", "tool-validate"]
    assert {e.category for e in entries} == {"internal_compute"} and all(e.run_id == box.session for e in entries)
    assert box.spent == sum((e.amount_rmb_stored for e in entries), Decimal(0))
    summary = box.call("ledger_summary", {"project": "RD-TOOLS"}).data
    assert summary["this_session"]["project"] == "RD-TOOLS" and summary["entries"] == 2


def test_a_failing_tool_is_reported_and_the_session_goes_on(tmp_path):
    box = Toolbox(tmp_path, ProjectConfig.model_validate(TINY), worker=FakeWorker(crash=1))
    r = box.call("render_episode", {"text": BRIEF, "name": "ep1"})
    assert not r.ok and r.error == "render_episode failed: RuntimeError: render worker lost its GPU"
    assert box.call("render_episode", {"text": BRIEF, "name": "ep1"}).ok


def test_rendering_without_a_worker_and_spending_past_the_budget_are_refused(tmp_path):
    no_worker = Toolbox(tmp_path / "a", ProjectConfig.model_validate(TINY))
    assert "warm render worker" in no_worker.call("render_episode", {"text": BRIEF, "name": "ep1"}).error
    broke = Toolbox(tmp_path / "b", ProjectConfig.model_validate(TINY), worker=FakeWorker(), budget_rmb=Decimal(0))
    r = broke.call("render_episode", {"text": BRIEF, "name": "ep1"})
    assert r.error.startswith("budget: render_episode refused") and not broke.worker.submitted


def test_quote_and_render_hand_the_worker_only_what_is_left(tmp_path):
    box = Toolbox(tmp_path, ProjectConfig.model_validate(TINY), worker=FakeWorker(), budget_rmb=Decimal(5))
    q = box.call("quote_episode", {"text": BRIEF}).data
    assert q["total"] == "0" and q["fits_budget"] is True  # the CPU default pays no model API
    job = box.call("render_episode", {"text": BRIEF, "name": "ep1"}).data
    assert job["run"] == "ep1" and box.worker.submitted[0]["budget_rmb"] <= Decimal(5)
    status = box.call("job_status", {"job_id": job["job_id"], "since": 1}).data
    assert status["state"] == "done" and status["lines"] == ["done"] and status["since"] == 2
    assert "no render job" in box.call("job_status", {"job_id": "nope"}).error


def test_list_takes_shows_costs_and_the_automatic_checks_per_shot(box):
    write_run(box.out_dir / "ep1")
    data = box.call("list_takes", {"run": "ep1"}).data
    shots = {s["shot_id"]: s for s in data["shots"]}
    assert shots["s02"]["dub_qa_worst"] == 0.6 and shots["s02"]["dub_qa_flagged"] == ["s02-l1"]
    assert shots["s02"]["consistency"] == 0.5 and shots["s01"]["consistency"] == 0.9
    assert shots["s03"]["consistency"] is None and shots["s01"]["subtitle_problems"] == []
    assert shots["s01"]["takes"][0] | {} == {**shots["s01"]["takes"][0], "take": 1, "in_cut": True,
                                             "cost": "0.0100"}
    assert data["episode"]["duration_s"] == 10.0 and data["episode"]["target_s"] == 12
    assert data["episode"]["labels_ok"] is True
    assert box.call("label_report", {"run": "ep1"}).data["all_ok"] is True


def test_redo_asks_for_more_takes_then_re_renders_and_decisions_go_to_the_review_record(box):
    write_run(box.out_dir / "ep1")
    assert "no shot 's09'" in box.call("render_shot", {"run": "ep1", "shot_id": "s09"}).error
    r = box.call("render_shot", {"run": "ep1", "shot_id": "s02", "note": "CER 0.6"}).data
    assert r["takes"] == 2 and box.worker.submitted[-1]["source"].name == "screenplay.yaml"
    assert ReviewLog.load(box.out_dir / "ep1").takes_for("s02", 1) == 2
    takes = json.loads((box.out_dir / "ep1" / "manifest.json").read_text())["takes"]["takes"]
    assert [t["take"] for t in takes if t["shot_id"] == "s02"] == [1, 2]
    assert "say why" in box.call("reject_take", {"run": "ep1", "shot_id": "s02", "take": 1}).error
    assert box.call("reject_take", {"run": "ep1", "shot_id": "s02", "take": 1, "reason": "CER 0.6"}).ok
    assert box.call("approve_take", {"run": "ep1", "shot_id": "s02", "take": 2}).ok
    assert "no take 7" in box.call("approve_take", {"run": "ep1", "shot_id": "s02", "take": 7}).error
    log = ReviewLog.load(box.out_dir / "ep1")
    assert [(d.take, d.verdict, d.by) for d in log.decisions] == [(1, "rejected", "agent:mcp"),
                                                                  (2, "approved", "agent:mcp")]


def test_a_source_outside_the_servers_folders_is_refused(tmp_path):
    from microdrama.config import ProjectConfig
    from microdrama.tools import Toolbox
    from tests.agents.fakes import TINY, FakeWorker

    secret = tmp_path / "elsewhere" / "notes.yaml"
    secret.parent.mkdir()
    secret.write_text("title: 私人笔记\n", encoding="utf-8")
    box = Toolbox(tmp_path / "out", ProjectConfig.model_validate(TINY), worker=FakeWorker(),
                  read_roots=[tmp_path / "briefs"])
    r = box.call("quote_episode", {"source": str(secret)})
    assert not r.ok and "outside the folders this server reads" in r.error and "私人笔记" not in r.error
