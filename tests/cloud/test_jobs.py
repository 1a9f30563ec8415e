"""The job client: exactly-once paid jobs (a crash resumes the same task), retries, refusals, downloads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from microdrama.cloud.dashscope import DashScopeAdapter
from microdrama.cloud.jobs import CloudError, JobClient, JobSpec, ModerationError, UncertainSubmission
from microdrama.media import probe
from tests.cloud.fakes import KEY

VIDEO = JobSpec(kind="video", model="wan2.2-t2v-plus", prompt="a girl turns to the camera", duration_s=5,
                width=720, height=1280, seed=7)


def client(account, tmp_path, sleeps=None, **kw) -> JobClient:
    return JobClient(account, DashScopeAdapter(), journal=tmp_path / "journal",
                     sleep=(sleeps.append if sleeps is not None else (lambda s: None)), **kw)


def test_a_video_job_is_submitted_polled_and_downloaded(dashscope, dashscope_account, tmp_path):
    out = client(dashscope_account, tmp_path).run(VIDEO, tmp_path / "out", "take1")
    info = probe(out.files[0])
    assert (info.width, info.height) == (480, 832)  # wan2.2-t2v-plus has no 720P: the nearest vertical tier
    assert info.duration_s == pytest.approx(5, abs=0.1)
    assert out.quantities["api_video_seconds"] == 5 and out.quantities["api_calls"] == 4  # submit, 2 polls, download
    assert dashscope.submissions == 1 and not out.resumed
    record = json.loads((tmp_path / "journal" / "take1.json").read_text())
    assert record["state"] == "done" and record["task_id"] == out.task_id


def test_a_run_that_died_after_submitting_polls_the_same_task(dashscope, dashscope_account, tmp_path):
    dashscope.then("download", 500)
    dashscope.then("download", 500)
    dashscope.then("download", 500)
    with pytest.raises(CloudError, match="download"):
        client(dashscope_account, tmp_path).run(VIDEO, tmp_path / "out", "take1")
    again = client(dashscope_account, tmp_path).run(VIDEO, tmp_path / "out", "take1")
    assert dashscope.submissions == 1 and again.resumed and again.files[0].is_file()


def test_kill_9_while_polling_then_rerun_pays_once(dashscope, dashscope_account, tmp_path):
    """A real SIGKILL in the middle of a long job: the rerun finds the task id and keeps polling it."""
    dashscope.polls_before_done = 10_000
    script = tmp_path / "job.py"
    script.write_text(
        "import sys, pathlib\n"
        "from microdrama.cloud.jobs import CloudProvider, JobClient, JobSpec\n"
        "from microdrama.cloud.dashscope import DashScopeAdapter\n"
        f"account = CloudProvider.model_validate_json({dashscope_account.model_dump_json()!r})\n"
        f"spec = JobSpec.model_validate_json({VIDEO.model_dump_json()!r})\n"
        "JobClient(account, DashScopeAdapter(), journal=pathlib.Path(sys.argv[1]), sleep=lambda s: None)"
        ".run(spec, pathlib.Path(sys.argv[2]), 'take1')\n", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "journal"), str(tmp_path / "out")],
                            env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    record = tmp_path / "journal" / "take1.json"
    deadline = time.time() + 60
    while time.time() < deadline and not (record.is_file() and "task_id" in record.read_text()):
        time.sleep(0.05)
    time.sleep(0.3)  # let it poll a few times
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert dashscope.submissions == 1 and len([s for s in dashscope.seen if "/tasks/" in s["path"]]) > 1
    for task in dashscope.tasks.values():
        task.polls_left = 0  # the provider finishes the job meanwhile
    out = client(dashscope_account, tmp_path).run(VIDEO, tmp_path / "out", "take1")
    assert out.resumed and dashscope.submissions == 1 and probe(out.files[0]).duration_s > 4


def test_a_request_sent_without_an_answer_is_not_sent_again_blindly(dashscope, dashscope_account, tmp_path):
    journal = tmp_path / "journal"
    journal.mkdir()
    (journal / "take1.json").write_text(json.dumps({"state": "submitting", "spec": VIDEO.fingerprint(),
                                                    "at": "2026-11-26T10:00:00+00:00"}))
    with pytest.raises(UncertainSubmission, match="may have been accepted and charged"):
        client(dashscope_account, tmp_path).run(VIDEO, tmp_path / "out", "take1")
    assert dashscope.submissions == 0


def test_retry_after_is_honoured_and_every_attempt_counted(dashscope, dashscope_account, tmp_path):
    dashscope.then("submit", 429, {"code": "Throttling.RateQuota", "message": "Requests rate limit exceeded"},
                   {"Retry-After": "7"})
    dashscope.then("poll", 500, {"code": "InternalError", "message": "busy"})
    sleeps: list[float] = []
    out = client(dashscope_account, tmp_path, sleeps).run(VIDEO, tmp_path / "out", "take1")
    assert 7 * 0.8 <= sleeps[0] <= 7 * 1.2
    assert out.quantities["api_calls_failed"] == 2 and dashscope.submissions == 1


def test_a_content_refusal_is_named_and_not_retried(dashscope, dashscope_account, tmp_path):
    spec = VIDEO.model_copy(update={"prompt": "FORBIDDEN scene"})
    with pytest.raises(ModerationError, match="DataInspectionFailed"):
        client(dashscope_account, tmp_path).run(spec, tmp_path / "out", "take1")
    assert len([s for s in dashscope.seen if s["method"] == "POST"]) == 1
    dashscope.next_outcome.append("moderation")
    with pytest.raises(ModerationError, match="Output data may contain"):
        client(dashscope_account, tmp_path).run(VIDEO, tmp_path / "out", "take2")


def test_a_wrong_key_says_which_variable_and_is_not_retried(dashscope, dashscope_account, tmp_path, monkeypatch):
    monkeypatch.setenv("DASHSCOPE_TEST_KEY", "sk-wrong")
    with pytest.raises(CloudError, match="DASHSCOPE_TEST_KEY") as caught:
        client(dashscope_account, tmp_path).run(VIDEO, tmp_path / "out", "take1")
    assert len(dashscope.seen) == 1 and "sk-wrong" not in str(caught.value)


def test_an_expired_task_and_a_cut_download_are_errors_that_say_what_to_do(dashscope, dashscope_account, tmp_path):
    dashscope.next_outcome.append("expired")
    with pytest.raises(CloudError, match="older than 24 h"):
        client(dashscope_account, tmp_path).run(VIDEO, tmp_path / "out", "take1")
    dashscope.truncate_downloads = 3  # every attempt of this run is cut off
    with pytest.raises(CloudError, match="download"):
        client(dashscope_account, tmp_path).run(VIDEO, tmp_path / "out", "take2")
    assert not list((tmp_path / "out").glob("take2*"))  # nothing half-written is left to be taken for a result
    out = client(dashscope_account, tmp_path).run(VIDEO, tmp_path / "out", "take2")
    assert out.resumed and probe(out.files[0]).duration_s > 4


def test_a_job_that_outlives_its_timeout_stays_in_the_journal(dashscope, dashscope_account, tmp_path):
    dashscope.polls_before_done = 10_000
    clock = iter(range(0, 10_000, 100))
    account = dashscope_account.model_copy(update={"job_timeout_s": 250})
    with pytest.raises(CloudError, match="run again to keep waiting"):
        client(account, tmp_path, clock=lambda: float(next(clock))).run(VIDEO, tmp_path / "out", "take1")
    assert "task_id" in (tmp_path / "journal" / "take1.json").read_text()


def test_the_key_is_in_no_file_the_client_writes(dashscope, dashscope_account, tmp_path):
    client(dashscope_account, tmp_path).run(VIDEO, tmp_path / "out", "take1")
    for path in tmp_path.rglob("*"):
        if path.is_file() and "fake-dashscope" not in path.parts:
            assert KEY.encode() not in path.read_bytes(), path


def test_pictures_and_speech(dashscope, dashscope_account, tmp_path):
    from PIL import Image

    image = client(dashscope_account, tmp_path).run(
        JobSpec(kind="image", model="wan2.2-t2i-flash", prompt="character sheet", width=720, height=1280),
        tmp_path / "out", "ref")
    assert Image.open(image.files[0]).size == (720, 1280) and image.quantities["api_images"] == 1
    speech = client(dashscope_account, tmp_path).run(
        JobSpec(kind="speech", model="cosyvoice-v2", text="你好，世界", voice="longanyang"), tmp_path / "out", "line")
    import wave

    with wave.open(str(speech.files[0])) as w:
        assert w.getnframes() > 0
    assert speech.quantities["tts_characters"] == 5


def test_requests_to_one_account_are_spaced_by_its_rate_limit(dashscope, dashscope_account, tmp_path):
    from microdrama.llm.client import RateLimiter

    account = dashscope_account.model_copy(update={"requests_per_minute": 600})  # one request per 0.1 s
    RateLimiter._shared.pop(f"cloud:{account.host}:{account.api_key_env}", None)
    started = time.perf_counter()
    out = client(account, tmp_path).run(VIDEO, tmp_path / "out", "take1")
    assert out.quantities["api_calls"] == 4 and time.perf_counter() - started >= 0.3  # 4 requests, 3 gaps


def test_every_http_attempt_leaves_a_line_and_the_numbers_go_on_across_runs(dashscope, dashscope_account,
                                                                            tmp_path):
    dashscope.then("submit", 429, {"code": "Throttling.RateQuota", "message": "Requests rate limit exceeded"})
    for _ in range(3):
        dashscope.then("download", 500, {"code": "InternalError", "message": "busy"})
    with pytest.raises(CloudError, match="download"):
        client(dashscope_account, tmp_path).run(VIDEO, tmp_path / "out", "take1")
    out = client(dashscope_account, tmp_path).run(VIDEO, tmp_path / "out", "take1")
    log = [(a["n"], a["kind"], a["http_status"], a["outcome"], a["billed"]) for a in out.attempts]
    assert log == [(1, "submit", 429, "retry", False), (2, "submit", 200, "ok", True),
                   (3, "poll", 200, "ok", False), (4, "poll", 200, "ok", False),
                   (5, "download", 500, "retry", False), (6, "download", 500, "retry", False),
                   (7, "download", 500, "error", False),
                   (8, "poll", 200, "ok", False), (9, "download", 200, "ok", False)]  # the rerun resumes
    assert sum(a["billed"] for a in out.attempts) == 1 and dashscope.submissions == 1
    assert out.quantities["api_calls"] == 2  # the usage of this run: its own attempts only
    lines = (tmp_path / "journal" / "take1.attempts.jsonl").read_text().splitlines()
    assert len(lines) == 9 and KEY not in "".join(lines)


def test_a_refused_submit_is_logged_as_refused(dashscope, dashscope_account, tmp_path):
    with pytest.raises(ModerationError):
        client(dashscope_account, tmp_path).run(VIDEO.model_copy(update={"prompt": "FORBIDDEN"}), tmp_path / "o", "t")
    from microdrama.cloud.jobs import read_attempts

    assert [(a["kind"], a["outcome"]) for a in read_attempts(tmp_path / "journal" / "t.attempts.jsonl")] == [
        ("submit", "moderation")]
