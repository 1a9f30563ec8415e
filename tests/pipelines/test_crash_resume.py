"""SIGKILL at several points, then the same command again: identical output, exactly-once costs."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from microdrama.labels.carriers import content_hash

pytestmark = pytest.mark.slow

CONFIG = {"project_code": "RD-RESUME", "render": {"width": 270, "height": 480, "fps": 15},
          "subtitles": {"font_size": 16}}


def command(root, out):
    return [sys.executable, "-m", "microdrama.cli", "episode", str(root / "sp.yaml"), "--config",
            str(root / "cfg.yaml"), "--out", str(out), "--name", "ep"]


def stored_results(out):
    return list((out / ".store").glob("*/*/result.json"))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from tests.conftest import TINY_SCREENPLAY

    root = tmp_path_factory.mktemp("resume")
    (root / "sp.yaml").write_text(yaml.safe_dump(TINY_SCREENPLAY, allow_unicode=True), encoding="utf-8")
    (root / "cfg.yaml").write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    env = {**os.environ, "PREFECT_HOME": str(root / "prefect")}
    subprocess.run(command(root, root / "baseline"), env=env, check=True, capture_output=True, timeout=300)
    return root, env, content_hash(root / "baseline" / "ep" / "episode.mp4")


@pytest.mark.parametrize("kill_after", [2, 9])  # during dubbing; among shot renders and finishing
def test_sigkill_then_rerun_gives_the_same_cut_and_exactly_once_costs(setup, kill_after):
    from microdrama.ledger import Ledger

    root, env, baseline = setup
    out = root / f"killed-{kill_after}"
    # Its own process group, so the kill also takes Prefect's temporary server: nothing survives, as in a crash.
    proc = subprocess.Popen(command(root, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 240
    while len(stored_results(out)) < kill_after and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "ep" / "manifest.json").exists(), "a killed run must not look finished"

    rerun = subprocess.run(command(root, out), env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert content_hash(out / "ep" / "episode.mp4") == baseline  # identical audio and video packets

    ledger = Ledger(f"sqlite:///{out / 'ledger.sqlite'}")
    entries = ledger.entries()
    per_step = Counter((e.artifact_key, e.unit) for e in entries)
    assert per_step and max(per_step.values()) == 1, "a step was billed twice"
    billed = {e.artifact_key for e in entries}
    assert billed <= {p.parent.name for p in stored_results(out)}
    assert len(billed) >= len(stored_results(out)) - 2  # steps too quick to round above 0 CPU-seconds may be free
    assert ledger.verify().ok


def helpers_of(out) -> list[str]:
    """Processes working inside `out` (ffmpeg runs in a step's folder) or speaking a line (espeak workers)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if cwd.startswith(str(out)) or str(out) in cmdline or "microdrama.espeak" in cmdline:
            found.append(f"{proc.name}: {cmdline[:120]}")
    return found


def test_a_killed_run_leaves_no_helper_running_and_the_rerun_sweeps_its_server(setup):
    """SIGKILL the run alone (not its process group): its ffmpeg and espeak helpers die with it, the temporary
    Prefect server it started is orphaned, and the next run stops that server before it starts its own."""
    from microdrama.processes import orphaned_prefect_servers

    root, env, baseline = setup
    out = root / "killed-alone"
    proc = subprocess.Popen(command(root, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while len(stored_results(out)) < 9 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.kill()
    proc.wait()
    time.sleep(1.0)
    assert helpers_of(out) == [], "an ffmpeg or espeak helper outlived the killed run"
    assert orphaned_prefect_servers(env["PREFECT_HOME"]), "expected the killed run's server to be orphaned"
    rerun = subprocess.run(command(root, out), env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "left running by a killed run" in rerun.stderr
    assert orphaned_prefect_servers(env["PREFECT_HOME"]) == []
    assert content_hash(out / "ep" / "episode.mp4") == baseline
