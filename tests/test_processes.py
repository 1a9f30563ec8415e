"""A killed run leaves nothing running: helpers die with their parent, and orphaned servers are swept."""

import os
import subprocess
import sys
import time

import pytest

from microdrama.processes import dies_with_parent, orphaned_prefect_servers, sweep_orphans

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process control")


def gone(pid: int, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_a_helper_dies_when_its_run_is_killed():
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys, time\nfrom microdrama.processes import dies_with_parent\n"
         "child = subprocess.Popen(dies_with_parent(['sleep', '60']))\nprint(child.pid, flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    deadline = time.monotonic() + 5  # until setpriv has set the signal and become `sleep`
    while not open(f"/proc/{child}/cmdline", "rb").read().startswith(b"sleep") and time.monotonic() < deadline:
        time.sleep(0.01)
    parent.kill()
    parent.wait()
    assert gone(child), "the helper outlived the run that started it"


def test_orphaned_temporary_servers_of_this_work_folder_are_swept(tmp_path):
    home = tmp_path / ".prefect"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT__SERVER_EPHEMERAL": "1"}
    fake_server = [sys.executable, "-c", "import time; time.sleep(60)", "prefect.server.api.server:create_app"]
    # Started by a process that exits at once, so the server is adopted by init, as after a SIGKILL.
    launcher = subprocess.run([sys.executable, "-c", "import subprocess; p = subprocess.Popen("
                               f"{fake_server!r}, start_new_session=True, stdin=subprocess.DEVNULL, "
                               "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); print(p.pid)"],
                              env=env, capture_output=True, text=True, check=True)
    orphan = int(launcher.stdout)
    try:
        deadline = time.monotonic() + 5
        while orphan not in orphaned_prefect_servers(home) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert orphan in orphaned_prefect_servers(home)
        assert orphan not in orphaned_prefect_servers(tmp_path / "another-home")  # only this folder's
        assert sweep_orphans(home) == 1 and gone(orphan)
    finally:
        subprocess.run(["kill", "-9", str(orphan)], capture_output=True)


def test_commands_are_wrapped_only_when_setpriv_exists():
    wrapped = dies_with_parent(["ffmpeg", "-version"])
    assert wrapped[-2:] == ["ffmpeg", "-version"]
    assert wrapped[0].endswith("setpriv") or wrapped == ["ffmpeg", "-version"]
