"""SIGKILL at several points, then the same command again: identical output, exactly-once costs."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter

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
