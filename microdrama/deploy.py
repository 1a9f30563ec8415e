"""Scale out on a team's Prefect server: work pools, deployments, per-device concurrency limits, workers.

Plain functions over Prefect's own command line (`prefect work-pool create`, `prefect deploy`,
`prefect gcl`, `prefect worker start`), run as child processes: the core never imports Prefect
(tests/test_architecture.py), and every step is one a team could type itself.

Deployments name their flows by module path (`microdrama.pipelines.episode.episode_flow`), so a worker
imports the installed package and needs no copy of the code; their working directory is the shared folder
`microdrama deploy` ran in, so a relative `out` lands there, never in a worker's temporary folder.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from microdrama.errors import InputError, MicrodramaError

DEFAULT_CPU_POOL = "microdrama-cpu"
DEFAULT_GPU_POOL = "microdrama-gpu"
EPISODE_ENTRYPOINT = "microdrama.pipelines.episode.episode_flow"
SERIES_ENTRYPOINT = "microdrama.pipelines.series.series_flow"
PREFECT = [sys.executable, "-m", "prefect"]

Runner = Callable[[list[str], Path | None], subprocess.CompletedProcess]


def resolve_device(device: str) -> str:
    """The device a render would use on this machine: `auto` is cuda when torch sees a GPU, else cpu."""
    if device != "auto":
        return device
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def device_limit_name(device: str) -> str:
    """The global concurrency limit one GPU device's renders take a slot of (`Run.concurrency_name`)."""
    return f"microdrama-gpu-{resolve_device(device).replace(':', '-')}"


def pool_name(pool: str, cpu_pool: str = DEFAULT_CPU_POOL, gpu_pool: str = DEFAULT_GPU_POOL) -> str:
    """`cpu` and `gpu` stand for the configured pools; any other name is a pool of its own."""
    return {"cpu": cpu_pool, "gpu": gpu_pool}.get(pool, pool)


@dataclass
class DeployPlan:
    workdir: Path
    pools: list[str]
    deployments: list[dict[str, str]] = field(default_factory=list)  # entrypoint, name, pool, params
    limits: dict[str, int] = field(default_factory=dict)

    def names(self) -> list[str]:
        """`flow/deployment` for each deployment, as `prefect deployment run` and `--deployment` take them."""
        return [f"{d['flow']}/{d['name']}" for d in self.deployments]


def plan(workdir: Path, cpu_pool: str = DEFAULT_CPU_POOL, gpu_pool: str = DEFAULT_GPU_POOL,
         devices: tuple[str, ...] = ("cuda",), gpu_slots: int = 1, episodes_on: str = "cpu") -> DeployPlan:
    """What `deploy` creates: both pools, the episode flow on each, the series flow on the CPU pool (it only
    waits on its episodes) sending episodes to `episodes_on`, and one limit per GPU device."""
    workdir = Path(workdir).expanduser().resolve()
    if not workdir.is_dir():
        raise InputError(f"--workdir {workdir} is not a folder; give the shared folder every worker mounts")
    if episodes_on not in ("cpu", "gpu"):
        raise InputError(f"--episodes-on must be cpu or gpu, not {episodes_on!r}")
    if gpu_slots < 1:
        raise InputError("--gpu-slots must be at least 1 (renders at a time per GPU device)")
    for name in (cpu_pool, gpu_pool):
        if not name or any(c.isspace() or c == "/" for c in name):
            raise InputError(f"pool name {name!r} must be one word without '/' (e.g. {DEFAULT_CPU_POOL})")
    episode_pool = cpu_pool if episodes_on == "cpu" else gpu_pool
    return DeployPlan(
        workdir=workdir, pools=[cpu_pool, gpu_pool],
        deployments=[
            {"entrypoint": EPISODE_ENTRYPOINT, "flow": "episode", "name": cpu_pool, "pool": cpu_pool},
            {"entrypoint": EPISODE_ENTRYPOINT, "flow": "episode", "name": gpu_pool, "pool": gpu_pool},
            {"entrypoint": SERIES_ENTRYPOINT, "flow": "series", "name": cpu_pool, "pool": cpu_pool,
             "deployment": f"episode/{episode_pool}"},
        ],
        limits={device_limit_name(d): gpu_slots for d in devices})


def _run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*PREFECT, *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PREFECT_CLI_PROMPT": "false"})


def _check(result: subprocess.CompletedProcess, what: str) -> None:
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
        raise MicrodramaError(f"{what} failed: {' / '.join(tail)}")


def require_server(environ: dict[str, str] | None = None) -> str:
    url = (os.environ if environ is None else environ).get("PREFECT_API_URL")
    if not url:
        raise InputError("deployments and workers need a Prefect server every machine reaches: "
                         "`prefect config set PREFECT_API_URL=http://server:4200/api` (or export it) first")
    return url


def apply(p: DeployPlan, run: Runner = _run, echo: Callable[[str], None] = print) -> DeployPlan:
    """Create what the plan names on the server; existing pools and limits are kept (limits get the new size),
    deployments are updated in place."""
    for pool in p.pools:
        result = run(["work-pool", "create", pool, "--type", "process"], None)
        if result.returncode != 0 and "already exists" not in (result.stdout + result.stderr):
            _check(result, f"creating work pool {pool}")
        echo(f"work pool {pool} (process)")
    for d in p.deployments:
        args = ["--no-prompt", "deploy", d["entrypoint"], "--name", d["name"], "--pool", d["pool"],
                "--job-variable", f"working_dir={p.workdir}", "--tag", "microdrama"]
        if d.get("deployment"):
            args += ["--param", f"deployment={d['deployment']}"]
        _check(run(args, p.workdir), f"deploying {d['flow']}/{d['name']}")
        echo(f"deployment {d['flow']}/{d['name']} on {d['pool']} (working folder {p.workdir})")
    for name, slots in p.limits.items():
        result = run(["gcl", "create", name, "--limit", str(slots)], None)
        if result.returncode != 0:
            _check(run(["gcl", "update", name, "--limit", str(slots)], None), f"limit {name}")
        echo(f"concurrency limit {name}: {slots} render(s) at a time")
    return p


def worker_env(device: str | None, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The worker's environment: its flow runs see only `device` (cuda:1 → CUDA_VISIBLE_DEVICES=1, so they
    render on `cuda`); `cpu` hides every GPU."""
    env = dict(os.environ if environ is None else environ)
    if env.get("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL") == "CRITICAL":  # the CLI's own quiet console: a worker's
        env["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "INFO"             # operator reads its runs' progress
    if device is None or device in ("cuda", "auto"):
        return env
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    elif device.startswith("cuda:") and device[5:].isdigit():
        env["CUDA_VISIBLE_DEVICES"] = device[5:]
    else:
        raise InputError(f"--device must be cpu, cuda or cuda:N, not {device!r}")
    return env


def worker_command(pool: str, name: str | None = None, device: str | None = None,
                   limit: int | None = None) -> list[str]:
    """`prefect worker start` for a process worker; `limit` bounds the flow runs it runs at a time."""
    name = name or "-".join(x for x in (pool, socket.gethostname(), (device or "").replace(":", "")) if x)
    return [*PREFECT, "worker", "start", "--pool", pool, "--type", "process", "--name", name,
            *(["--limit", str(limit)] if limit else [])]
