"""`microdrama new` gives a project that installs, registers its skill, and passes its own tests."""

import os
import subprocess
import sys

import pytest

from microdrama.errors import InputError
from microdrama.scaffold import create_project

pytestmark = pytest.mark.slow


def test_new_project_installs_and_passes_its_own_tests(tmp_path):
    project = create_project("my-drama", tmp_path)
    site = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                              "--target", str(site), str(project)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-2000:]
    env = {**os.environ, "PYTHONPATH": str(site)}
    listed = subprocess.run([sys.executable, "-m", "microdrama.cli", "skills", "list", "--stage", "poster"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert "my_drama-poster" in listed.stdout
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project / "tests")],
                           capture_output=True, text=True, env=env, cwd=project, timeout=300)
    assert tests.returncode == 0 and "3 passed" in tests.stdout, tests.stdout[-2000:]
    ran = subprocess.run([sys.executable, "-m", "microdrama.cli", "skills", "run", "my_drama-poster", "-i",
                          str(project / "poster.yaml"), "--out", str(tmp_path / "skill-out")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert ran.returncode == 0 and "poster.png" in ran.stdout


def test_existing_folder_is_refused(tmp_path):
    create_project("demo-x", tmp_path)
    with pytest.raises(InputError, match="already exists"):
        create_project("demo-x", tmp_path)
