"""Every course lesson runs as a script, the way a trainee runs it, and produces its output."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

COURSE = Path(__file__).resolve().parent.parent / "docs" / "course"
LESSONS = sorted(p.name for p in COURSE.glob("0*.py"))
EXPECT = {  # lesson -> (something it prints, a file it leaves)
    "01_screenplay.py": ("hook line:", "01/screenplay.yaml"),
    "02_storyboard.py": ("contact sheet:", "02/storyboard.png"),
    "03_visuals.py": ("frames of", "03/s01.mp4"),
    "04_dubbing.py": ("s01-l1", "04/s01-l1.wav"),
    "05_subtitles.py": ("-", "05/episode.srt"),
    "06_compose.py": ("cut:", "06/episode.mp4"),
    "07_orchestration.py": ("second run: 0 run", "07/out/ep/episode.mp4"),
    "08_cost_ledger.py": ("chain valid", "08/claim/claim.html"),
    "09_labels_and_filing.py": ("stripped copy passes? False", "09/poster.png"),
}

pytestmark = pytest.mark.slow


def test_every_lesson_is_covered():
    assert LESSONS == sorted(EXPECT)


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_runs(lesson, tmp_path):
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    proc = subprocess.run([sys.executable, str(COURSE / lesson), "--out", str(tmp_path)], capture_output=True,
                          text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed, produced = EXPECT[lesson]
    assert printed in proc.stdout
    assert (tmp_path / produced).exists()
    assert "Exercise:" in (COURSE / lesson).read_text(encoding="utf-8")
