"""A series on a real Prefect server with two process workers: the episodes spread over both workers as child
runs of the series, with their artifacts and logs on the server; a worker killed mid-episode loses nothing
that a re-run of the series does not finish, and the ledger has every call exactly once."""

import collections
import contextlib
import datetime
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

import pytest
import yaml

from microdrama import deploy

pytestmark = pytest.mark.slow

SMALL = {"project_code": "RD-TEAM", "render": {"width": 270, "height": 480, "fps": 5},
         "subtitles": {"font_size": 16}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, what: str, limit_s: float = 240, every_s: float = 0.5):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(every_s)
    raise AssertionError(f"gave up waiting for {what}")


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture
def server(tmp_path):
    """`prefect server start` on loopback with its own PREFECT_HOME; the env every child process gets."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
               PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_UI_ENABLED="false",
               PREFECT_WORKER_QUERY_SECONDS="1", PREFECT_WORKER_PREFETCH_SECONDS="2",
               PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{tmp_path / 'prefect.db'}")
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([*deploy.PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    children: list[subprocess.Popen] = []
    try:
        _wait(lambda: _up(env["PREFECT_API_URL"]) or proc.poll() is not None, "the Prefect server", 180)
        assert proc.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
        yield env, children
    finally:
        for child in [*children, proc]:
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(20)
                except subprocess.TimeoutExpired:
                    child.kill()
        log.close()


def _runs(client, flow_name: str, name_prefix: str):
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterName

    return client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
                                 flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=name_prefix)))


def _messages(client, run_id) -> list[str]:
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    return [log.message for log in client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))]


def _worker_of(client, run_id) -> str | None:
    for m in _messages(client, run_id):
        if found := re.match(r"Worker '([^']+)' submitting flow run", m):
            return found.group(1)
    return None


def test_two_workers_share_a_series_and_a_killed_worker_is_resumed(tmp_path, server, screenplay_data):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.states import Crashed

    from microdrama.ledger import Ledger, ledger_url
    from microdrama.run import Manifest

    env, children = server
    shared = tmp_path / "shared"
    shared.mkdir()

    def prefect_cli(args, cwd):
        return subprocess.run([*deploy.PREFECT, *args], cwd=cwd, env={**env, "PREFECT_CLI_PROMPT": "false"},
                              capture_output=True, text=True, timeout=300)

    plan = deploy.apply(deploy.plan(shared, devices=()), run=prefect_cli, echo=lambda _: None)
    workers = {}
    for name in ("w1", "w2"):
        log = open(tmp_path / f"{name}.log", "w")
        workers[name] = subprocess.Popen(deploy.worker_command(plan.pools[0], name=name, limit=2), env=env,
                                         cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        children.append(workers[name])

    for n in (1, 2, 3):
        data = dict(screenplay_data, episode=dict(screenplay_data["episode"], number=n, title=f"第{n}集"))
        (shared / f"ep{n}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    (shared / "series.yaml").write_text("title: Team\nepisodes: [ep1.yaml, ep2.yaml, ep3.yaml]\n", encoding="utf-8")

    def params(out: str) -> dict:  # `out` is relative: it must land in the shared folder, not a worker's temp
        return {"spec_path": str(shared / "series.yaml"), "config": SMALL, "out_dir": out, "parallel": 3,
                "deployment": "episode/microdrama-cpu"}

    with temporary_settings(updates={PREFECT_API_URL: env["PREFECT_API_URL"]}), get_client(sync_client=True) as client:
        # 1. The whole series through the deployments: three child runs, spread over both workers.
        series = run_deployment("series/microdrama-cpu", parameters=params("out"), timeout=300, poll_interval=1,
                                as_subflow=False)
        assert series.state.is_completed(), series.state.message
        episodes = {r.name: r for r in _runs(client, "episode", "team-ep%")}
        assert set(episodes) == {"team-ep01", "team-ep02", "team-ep03"}
        assert all(r.state.is_completed() for r in episodes.values())
        assert {client.read_task_run(r.parent_task_run_id).flow_run_id for r in episodes.values()} == {series.id}
        assert {"RD-TEAM", "series:team", "episode:02"} <= set(episodes["team-ep02"].tags)
        took = {_worker_of(client, r.id) for r in [series, *episodes.values()]}
        assert took == {"w1", "w2"}, took
        assert all((shared / "out" / name / "manifest.json").is_file() for name in episodes)
        keys = [a.key for a in client.read_artifacts() if a.key]
        expected = {f"{kind}-team-ep0{n}" for kind in ("cost", "storyboard", "labels", "folder") for n in (1, 2, 3)}
        assert expected | {"series-team"} <= set(keys)
        made_side_by_side = [a for a in client.read_artifacts() if a.key and a.key.endswith("-team-ep02")]
        assert {a.flow_run_id for a in made_side_by_side} == {episodes["team-ep02"].id}  # each on its episode's run
        messages = _messages(client, episodes["team-ep03"].id)
        assert any(m.startswith("storyboard: 3 shots") for m in messages)  # progress lines, on the server

        # 2. A worker dies mid-episode (its process and its runs' processes killed), then the series is re-run.
        done = {r.id for r in episodes.values()}
        first = run_deployment("series/microdrama-cpu", parameters=params("out2"), timeout=0, as_subflow=False)

        def running_episode():
            for r in _runs(client, "episode", "team-ep%"):
                if r.id not in done and r.state and r.state.is_running() and r.infrastructure_pid:
                    return r if _worker_of(client, r.id) else None
            return None

        victim_run = _wait(running_episode, "an episode running on a worker")
        victim = _worker_of(client, victim_run.id)
        os.kill(workers[victim].pid, signal.SIGKILL)

        def dead_workers(r) -> bool:
            """The dead worker's run: its own, or one it had just taken (Pending with no process, and its
            'submitting' log line may have died with it: the live worker logs its own within seconds)."""
            taken_by = _worker_of(client, r.id)
            since = r.state.timestamp if r.state.timestamp.tzinfo else r.state.timestamp.replace(tzinfo=datetime.UTC)
            stale = (datetime.datetime.now(datetime.UTC) - since).total_seconds() > 20
            return taken_by == victim or (taken_by is None and r.state.is_pending() and stale)

        def dead_worker_runs_crashed() -> bool:
            """What the team (or a zombie-run automation) does with the dead worker's runs, checked again until
            the series ends."""
            for r in [client.read_flow_run(first.id), *_runs(client, "episode", "team-ep%")]:
                if r.id in done or r.state.is_final() or not dead_workers(r):
                    continue
                if r.infrastructure_pid:  # its processes run in sessions of their own: they die with the machine
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(str(r.infrastructure_pid).rsplit(":", 1)[-1]), signal.SIGKILL)
                client.set_flow_run_state(r.id, Crashed(message=f"worker {victim} died"), force=True)
            return client.read_flow_run(first.id).state.is_final()

        _wait(dead_worker_runs_crashed, "the first series run to end", every_s=2)
        again = run_deployment("series/microdrama-cpu", parameters=params("out2"), timeout=300, poll_interval=1,
                               as_subflow=False)
        assert again.state.is_completed(), again.state.message

    summary = json.loads((shared / "out2" / "team" / "series.json").read_text(encoding="utf-8"))
    assert [e["ok"] for e in summary["episodes"]] == [True, True, True]
    assert any(not e["resumed"] for e in summary["episodes"])  # the lost episode was rendered again
    entries = Ledger(ledger_url(None, shared / "out2")).entries()
    assert entries
    counts = collections.Counter(e.idempotency_key for e in entries)
    assert max(counts.values()) == 1
    manifest_keys = {u.cache_key for n in (1, 2, 3) for u in Manifest.read(shared / "out2" / f"team-ep0{n}").usage}
    # Nothing billed that no finished episode used; the series' own call is its continuity check.
    assert {e.artifact_key for e in entries if e.flow == "episode"} <= manifest_keys
    assert {e.task for e in entries if e.flow != "episode"} <= {"continuity"}

