"""Child processes that never outlive a killed run.

Every helper process microdrama starts itself (ffmpeg, the espeak-ng worker) is started through
util-linux `setpriv --pdeathsig KILL` where it exists (Linux `PR_SET_PDEATHSIG`, set in the child
before it execs, so no `preexec_fn` runs in a threaded parent), and the kernel kills it when the
run dies: a SIGKILLed render leaves no ffmpeg behind. Prefect's temporary server is started by Prefect, not by us: a later run sweeps the ones
a dead run left (orphans of this work folder's Prefect home), so they do not pile up.
"""

from __future__ import annotations

import os
import shutil
import signal
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def _setpriv() -> str | None:
    return shutil.which("setpriv")


def dies_with_parent(cmd: list[str]) -> list[str]:
    """`cmd`, started so that the kernel kills it when the process (thread) that started it dies."""
    tool = _setpriv()
    return [tool, "--pdeathsig", "KILL", "--", *cmd] if tool else list(cmd)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def orphaned_prefect_servers(prefect_home: str | Path) -> list[int]:
    """Temporary Prefect servers started for this Prefect home whose starting process has died."""
    home = f"PREFECT_HOME={Path(prefect_home).resolve()}".encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        cmdline = _read(proc / "cmdline")
        if b"prefect.server.api.server:create_app" not in cmdline:
            continue
        environ = _read(proc / "environ").split(b"\0")
        if home not in environ or b"PREFECT__SERVER_EPHEMERAL=1" not in environ:
            continue
        stat = _read(proc / "stat").decode(errors="replace")
        ppid = int(stat.rsplit(")", 1)[1].split()[1]) if ")" in stat else 0
        if ppid == 1:  # its run died and init adopted it; a live run's server keeps its parent
            found.append(int(proc.name))
    return found


def sweep_orphans(prefect_home: str | Path) -> int:
    """Stop what dead runs of this work folder left running; returns how many processes were stopped."""
    stopped = 0
    for pid in orphaned_prefect_servers(prefect_home):
        try:
            os.kill(pid, signal.SIGTERM)
            stopped += 1
        except OSError:
            pass
    return stopped
