"""The studio's actions through HTTP, without a browser: every edit, decision and guard."""

from __future__ import annotations

import json
import threading

import pytest
import yaml
from fastapi.testclient import TestClient

from microdrama.studio.app import create_app

pytestmark = pytest.mark.slow
JSON = {"accept": "application/json"}


@pytest.fixture
def studio(out, worker):
    app = create_app(out, worker)
    return app, TestClient(app)


def act(studio, path: str, **form):
    """POST an action with the page's CSRF token and wait for the render it queued."""
    app, client = studio
    r = client.post(path, data={"csrf": app.state.csrf, **form}, headers=JSON)
    assert r.status_code == 202, r.text
    job = app.state.worker.wait(app.state.worker.jobs[r.json()["job"]["id"]])
    assert job.state == "done", job.error
    return job


def manifest(out):
    return json.loads((out / "ep1" / "manifest.json").read_text(encoding="utf-8"))


def takes(out, shot_id):
    return {t["take"]: t for t in manifest(out)["takes"]["takes"] if t["shot_id"] == shot_id}


def test_the_index_and_episode_page_show_the_cut_every_take_cost_and_labels(studio):
    _, client = studio
    assert 'href="/e/ep1"' in client.get("/").text
    page = client.get("/e/ep1").text
    assert "/media/ep1/episode.mp4?v=" in page
    for shot in ("s01", "s02", "s03"):
        assert f'data-testid="take-{shot}-1"' in page and f'data-testid="line-{shot}-l1"' in page
    assert 'data-testid="cost-panel"' in page and "per finished minute" in page
    assert "AIGC labels" in page and "episode.mp4" in page and "online.html" in page


def test_editing_a_line_re_renders_only_what_it_touches(studio, out):
    before = manifest(out)
    job = act(studio, "/e/ep1/line/s02-l1", text="我回来了，你们准备好了吗？", emotion="cold", speaker="lin")
    after = manifest(out)
    assert yaml.safe_load((out / "ep1" / "screenplay.yaml").read_text(encoding="utf-8"))["episode"]["scenes"][0][
        "shots"][1]["lines"][0]["text"] == "我回来了，你们准备好了吗？"
    dubbed = {u["line_id"]: u["cached"] for u in after["usage"] if u["task"] == "dub-line"}
    assert dubbed == {"s01-l1": True, "s02-l1": False, "s02-l2": True, "s03-l1": True}
    shots = {u["shot_id"]: u["cached"] for u in after["usage"] if u["task"] == "render-shot"}
    assert shots == {"s01": True, "s02": False, "s03": True}  # only the shot the longer line stretches
    assert after["run_id"] != before["run_id"]
    # run: the line, the board (timed, and its contact sheet), the subtitles, the mix, its shot (render, finish),
    # the join; the other 7 reused
    assert (after["timings"]["steps_run"], after["timings"]["steps_cached"]) == (8, 7)
    assert any("s02-l1" in line for line in job.lines)  # the progress the page streams


def test_a_bad_edit_is_refused_with_the_cli_message_and_nothing_is_written(studio, out):
    app, client = studio
    source = (out / "ep1" / "screenplay.yaml").read_bytes()
    r = client.post("/e/ep1/line/s01-l1", data={"csrf": app.state.csrf, "text": "长" * 110}, headers=JSON)
    assert r.status_code == 400 and "subtitle rows" in r.json()["error"] and "Split it" in r.json()["error"]
    r = client.post("/e/ep1/line/s01-l1", data={"csrf": app.state.csrf, "speaker": "wang"})
    assert r.status_code == 400 and 'role="alert"' in r.text and "wang" in r.text  # shown in the page
    r = client.post("/e/ep1/shot/s01", data={"csrf": app.state.csrf, "min_duration_s": "many"}, headers=JSON)
    assert r.status_code == 400 and "min_duration_s" in r.json()["error"]
    for form, field in (({"variant": "two"}, "variant"), ({"pitch": "150"}, "pitch"), ({"gender": "robot"}, "gender")):
        r = client.post("/e/ep1/voice/lin", data={"csrf": app.state.csrf, **form}, headers=JSON)
        assert r.status_code == 400 and field in r.json()["error"], r.text
    r = client.post("/e/ep1/line/s09-l1", data={"csrf": app.state.csrf, "text": "x"}, headers=JSON)
    assert r.status_code == 400 and "no line 's09-l1'" in r.json()["error"]
    r = client.post("/e/ep1/line/s01-l1", data={"csrf": app.state.csrf, "text": "  "}, headers=JSON)
    assert r.status_code == 400 and "text" in r.json()["error"]
    assert (out / "ep1" / "screenplay.yaml").read_bytes() == source
    assert not app.state.worker.busy("ep1")


def test_reject_redo_and_approve_are_recorded_as_evidence(studio, out):
    act(studio, "/e/ep1/take/s01/1/reject", reason="face changes", reviewer="王编导")
    t = takes(out, "s01")[1]
    assert (t["status"], t["reason"], t["by"]) == ("rejected", "face changes", "王编导")
    act(studio, "/e/ep1/shot/s01/redo", more="1", reviewer="王编导")
    s01 = takes(out, "s01")
    assert set(s01) == {1, 2} and s01[2]["in_cut"] and not s01[1]["in_cut"]  # the rejected take left the cut
    assert s01[2]["video"] != s01[1]["video"]
    act(studio, "/e/ep1/approve-all", reviewer="王编导")
    m = manifest(out)
    in_cut = [t for t in m["takes"]["takes"] if t["in_cut"]]
    assert len(in_cut) == 3 and all(t["status"] == "approved" and t["by"] == "王编导" for t in in_cut)
    assert m["review"]["approved"] == 3 and m["review"]["rejected"] == 1 and m["review"]["reviewers"] == ["王编导"]
    assert m["artifacts"]["review.json"]["sha256"]
    online = json.loads((out / "ep1" / "filing" / "online.json").read_text(encoding="utf-8"))
    assert "王编导" in json.dumps(online, ensure_ascii=False)  # the filing pack cites the human review
    r = studio[1].post("/e/ep1/take/s01/9/approve", data={"csrf": studio[0].state.csrf}, headers=JSON)
    assert r.status_code == 400 and "no take 9" in r.json()["error"]
    r = studio[1].post("/e/ep1/take/s02/1/reject", data={"csrf": studio[0].state.csrf}, headers=JSON)
    assert r.status_code == 400 and "reason" in r.json()["error"]


def test_an_approval_does_not_carry_over_to_a_take_rendered_from_an_edited_prompt(studio, out):
    act(studio, "/e/ep1/take/s03/1/approve")
    assert takes(out, "s03")[1]["status"] == "approved"
    act(studio, "/e/ep1/shot/s03", prompt="手机屏幕亮起，一条陌生短信")
    assert takes(out, "s03")[1]["status"] == "accepted"  # in the cut, waiting for review again


def test_concurrent_edits_to_one_episode_are_serialised_and_none_is_lost(studio, out):
    app, client = studio
    texts = {"s01-l1": "滚出去！", "s02-l2": "绝不可能！", "s03-l1": "屏幕亮了。"}
    threads = [threading.Thread(target=client.post, args=(f"/e/ep1/line/{line}",),
                                kwargs={"data": {"csrf": app.state.csrf, "text": text}, "headers": JSON})
               for line, text in texts.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for job in list(app.state.worker.jobs.values()):
        app.state.worker.wait(job)
    spoken = {ln["text"] for sc in yaml.safe_load((out / "ep1" / "screenplay.yaml").read_text(encoding="utf-8"))[
        "episode"]["scenes"] for sh in sc["shots"] for ln in sh["lines"]}
    assert set(texts.values()) <= spoken


def test_guards_csrf_origin_traversal_token_and_no_secrets(out, worker, monkeypatch):
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-studio-secret-123")
    app = create_app(out, worker)
    client = TestClient(app)
    assert client.post("/e/ep1/render", data={}).status_code == 403  # no CSRF token
    assert client.post("/e/ep1/render", data={"csrf": "forged"}).status_code == 403
    r = client.post("/e/ep1/render", data={"csrf": app.state.csrf}, headers={"origin": "http://evil.example"})
    assert r.status_code == 403
    assert client.get("/media/..%2f..%2f..%2fetc%2fpasswd").status_code == 403
    assert client.get("/media/ep1/..%2f..%2f..%2fetc%2fhostname").status_code == 403
    assert client.get("/e/..%2f..%2fetc").status_code == 404
    assert "sk-studio-secret-123" not in client.get("/e/ep1").text
    locked = TestClient(create_app(out, worker, token="t0ken"))
    assert locked.get("/").status_code == 401
    assert locked.get("/?token=t0ken").status_code == 200
    assert locked.get("/e/ep1").status_code == 200  # the cookie carries it from then on


def test_the_cli_renders_through_the_studio_warm_worker(studio_url, out, tmp_path, screenplay_data):
    import subprocess
    import sys

    screenplay_data["episode"]["scenes"][0]["shots"][2]["lines"][0]["text"] = "手机又亮了。"
    source = tmp_path / "ep2.yaml"
    source.write_text(yaml.safe_dump(screenplay_data, allow_unicode=True), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "microdrama.cli", "episode", str(source), "--via-studio", studio_url],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "warm worker" in done.stdout and "[dub 4/4]" in done.stderr  # the render's progress, followed live
    assert json.loads((out / "ep2" / "manifest.json").read_text(encoding="utf-8"))["source"]["path"] == str(source)
    bad = subprocess.run([sys.executable, "-m", "microdrama.cli", "episode", str(tmp_path / "missing.yaml"),
                          "--via-studio", studio_url], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "missing.yaml" in bad.stderr and "Traceback" not in bad.stderr


def test_a_first_visit_renders_the_demo_from_the_page(worker, tmp_path):
    from microdrama.config import ProjectConfig
    from tests.studio.conftest import TINY

    app = create_app(tmp_path / "empty", worker, config=ProjectConfig.model_validate(TINY))
    client = TestClient(app)
    assert 'data-testid="render-demo"' in client.get("/").text
    r = client.post("/render-demo", data={"csrf": app.state.csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/e/demo?job=")
    assert 'data-testid="progress"' in client.get(r.headers["location"]).text  # its progress, before any file
    job = worker.wait(worker.jobs[r.headers["location"].split("job=")[1]])
    assert job.state == "done", job.error
    assert 'data-testid="take-s01-1"' in client.get("/e/demo").text


def test_a_voice_edit_redubs_that_characters_lines_and_a_redo_can_carry_a_new_prompt(studio, out):
    act(studio, "/e/ep1/voice/lin", gender="female", variant="2", pitch="70", rate="150")
    voice = yaml.safe_load((out / "ep1" / "screenplay.yaml").read_text(encoding="utf-8"))["series"]["characters"][0][
        "voice"]
    assert (voice["variant"], voice["pitch"], voice["rate"]) == (2, 70, 150)
    dubbed = {u["line_id"]: u["cached"] for u in manifest(out)["usage"] if u["task"] == "dub-line"}
    assert dubbed["s02-l1"] is False and dubbed["s01-l1"] is True  # only 林夏's line was spoken again
    act(studio, "/e/ep1/shot/s02/redo", more="2", prompt="两人对峙，窗外雷雨")
    s02 = takes(out, "s02")
    assert set(s02) == {1, 2, 3} and s02[1]["in_cut"]
    assert "雷雨" in yaml.safe_dump(yaml.safe_load((out / "ep1" / "screenplay.yaml").read_text(encoding="utf-8")),
                                   allow_unicode=True)
