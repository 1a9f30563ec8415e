"""An episode made through model APIs (a loopback DashScope): shots, references and voices from the provider,
quoted before, costed after, every paid call exactly once in the ledger — also across a kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from microdrama.config import ProjectConfig
from microdrama.domain import parse_model
from microdrama.ledger import Ledger
from microdrama.quote import BudgetExceeded
from tests.cloud.fakes import KEY

pytestmark = pytest.mark.slow


def cloud_config(url: str) -> dict:
    return {
        "project_code": "RD-CLOUD", "render": {"width": 270, "height": 480, "fps": 12},
        "subtitles": {"font_size": 16}, "qa": {"dub_qa": "off"},
        "cloud": {"ali": {"adapter": "dashscope", "base_url": f"{url}/api/v1", "api_key_env": "DASHSCOPE_TEST_KEY",
                          "poll_interval_s": 0, "backoff_s": 0, "requests_per_minute": 100000}},
        "stages": {"visuals": "video-cloud", "dubbing": "dubbing-cloud", "keyframe": "keyframe-cloud"},
        "options": {
            "video-cloud": {"account": "ali", "model": "wan2.2-t2v-plus", "i2v_model": "wan2.2-i2v-plus"},
            "keyframe-cloud": {"account": "ali", "model": "wan2.2-t2i-flash"},
            "dubbing-cloud": {"account": "ali", "model": "cosyvoice-v2",
                              "voices": {"female": ["longxiaochun_v2", "longwan_v2"], "male": ["longcheng_v2",
                                                                                               "longshu_v2"]}},
        },
    }


@pytest.fixture(scope="module")
def prefect(prefect_harness):
    from microdrama.pipelines.episode import episode_flow

    return episode_flow


@pytest.fixture
def screenplay_file(tmp_path, screenplay_data):
    path = tmp_path / "ep1.yaml"
    path.write_text(yaml.safe_dump(screenplay_data, allow_unicode=True), encoding="utf-8")
    return path


def model_api_entries(out: Path) -> list:
    return [e for e in Ledger(f"sqlite:///{out / 'ledger.sqlite'}").entries() if e.category == "model_api"]


def test_an_episode_from_the_provider_quoted_costed_and_paid_once(prefect, dashscope, screenplay_file, tmp_path):
    config = parse_model(ProjectConfig, cloud_config(dashscope.url))
    out = tmp_path / "out"
    summary = prefect(source=screenplay_file, config=config, out_dir=out, run_name="cloud")
    run_dir = Path(summary.run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    # every shot, reference and line came from the provider
    assert manifest["skills"]["visuals"]["skill"] == "video-cloud"
    kinds = sorted(p["task"] for p in manifest["providers"])
    assert kinds.count("render-shot") == summary.shots and kinds.count("dub-line") == summary.lines
    assert kinds.count("character-reference") == 2
    assert all(p["counterparty"].startswith("Alibaba Cloud") for p in manifest["providers"])
    assert all(label["ok"] for label in manifest["labels"])  # labelled and checked like any other episode
    # quoted before, costed after, side by side
    assert Decimal(manifest["quote"]["total"]) > 0
    assert set(manifest["spend"]) == {"dubbing", "keyframe", "visuals"}
    assert manifest["spend"]["visuals"]["quoted"] == manifest["spend"]["visuals"]["actual"]
    # exactly once: one submission and one priced ledger entry per call, the provider named
    entries = model_api_entries(out)
    calls = summary.shots + summary.lines + 2
    assert dashscope.submissions == calls
    assert len({e.artifact_key for e in entries}) == calls and all(e.vendor.startswith("Alibaba") for e in entries)
    # again: all from the store, nothing paid
    prefect(source=screenplay_file, config=config, out_dir=out, run_name="cloud")
    assert dashscope.submissions == calls and len(model_api_entries(out)) == len(entries)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_a_budget_below_the_quote_is_refused_before_any_call(prefect, dashscope, screenplay_file, tmp_path):
    config = parse_model(ProjectConfig, cloud_config(dashscope.url))
    with pytest.raises(BudgetExceeded, match="nothing was sent"):
        prefect(source=screenplay_file, config=config, out_dir=tmp_path / "out", run_name="cheap", budget_rmb=0.5)
    assert dashscope.seen == []
    assert not (tmp_path / "out" / "cheap" / "manifest.json").exists()


def test_a_cap_crossed_mid_run_stops_before_the_next_call(prefect, dashscope, screenplay_file, tmp_path):
    """The provider bills three times what was quoted: the run stops before the call that would cross the cap,
    keeps what it paid for in the ledger, and nothing is marked finished."""
    from microdrama.domain import read_source
    from microdrama.quote import quote_episode

    config = parse_model(ProjectConfig, cloud_config(dashscope.url))
    quoted = Decimal(quote_episode(read_source(screenplay_file), config).total)
    dashscope.bill_factor = 3.0
    out = tmp_path / "out"
    with pytest.raises(BudgetExceeded, match="stopping before"):
        prefect(source=screenplay_file, config=config, out_dir=out, run_name="capped",
                budget_rmb=float(quoted * Decimal("1.2")))
    assert not (out / "capped" / "manifest.json").exists() and (out / "capped" / "RUN-FAILED.txt").exists()
    spent = sum(Decimal(str(e.amount)) for e in model_api_entries(out))
    assert 0 < len(model_api_entries(out)) < dashscope.submissions + 1 and spent > 0


def test_kill_9_while_a_video_job_runs_then_rerun_pays_each_call_once(dashscope, screenplay_file, tmp_path):
    dashscope.polls_by_kind = {"video": 100_000}  # the references come back; the first video job hangs
    config = tmp_path / "studio.yaml"
    config.write_text(yaml.safe_dump(cloud_config(dashscope.url)), encoding="utf-8")
    out = tmp_path / "out"
    env = {**os.environ, "DASHSCOPE_TEST_KEY": KEY, "PYTHONPATH": str(Path.cwd())}
    cmd = [sys.executable, "-m", "microdrama.cli", "episode", str(screenplay_file), "--config", str(config),
           "--out", str(out), "--name", "killed"]
    log = open(tmp_path / "killed.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and not any(t.kind == "video"
                                                                      for t in dashscope.tasks.values()):
        time.sleep(0.2)
    assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
    time.sleep(1.0)  # it is polling now
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    submitted = dashscope.submissions
    assert any(t.kind == "video" for t in dashscope.tasks.values())
    for task in dashscope.tasks.values():
        task.polls_left = 0  # the provider finishes the jobs meanwhile
    dashscope.polls_by_kind = {}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    manifest = json.loads((out / "killed" / "manifest.json").read_text(encoding="utf-8"))
    calls = manifest["episode"]["shots"] + manifest["episode"]["lines"] + 2
    assert dashscope.submissions == calls, f"{submitted} before the kill, {dashscope.submissions} after"
    entries = model_api_entries(out)
    assert len({e.artifact_key for e in entries}) == calls
    assert len(entries) == len({(e.artifact_key, e.unit) for e in entries})  # no entry twice


def test_takes_are_generations_kept_for_review_and_costed_per_finished_minute(prefect, dashscope, screenplay_file,
                                                                              tmp_path):
    config = parse_model(ProjectConfig, cloud_config(dashscope.url))
    summary = prefect(source=screenplay_file, config=config, out_dir=tmp_path / "out", run_name="takes", takes=2)
    manifest = json.loads((Path(summary.run_dir) / "manifest.json").read_text(encoding="utf-8"))
    takes = manifest["takes"]
    assert takes["per_shot"] == 2 and len(takes["takes"]) == 2 * summary.shots
    assert {t["status"] for t in takes["takes"]} == {"accepted", "awaiting review"}
    assert takes["usable_take_rate"] == 0.5 and float(takes["api_cost_per_finished_minute"]) > 0
    videos = [t for t in dashscope.tasks.values() if t.kind == "video"]
    assert len(videos) == 2 * summary.shots
    # the quote planned both takes, and the spend matches it
    assert manifest["spend"]["visuals"]["quoted"] == manifest["spend"]["visuals"]["actual"]
