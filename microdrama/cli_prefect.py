"""`microdrama deploy` and `microdrama worker`: a team's Prefect server, its pools and its workers.

Registered in cli.py, so they run inside its error boundary. Prefect itself runs in child processes
(microdrama/deploy.py), never imported here.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import List, Optional

import typer

from microdrama import deploy as d


def deploy(
    workdir: Path = typer.Option(Path("."), help="the shared folder every worker mounts; runs start there"),
    cpu_pool: str = typer.Option(d.DEFAULT_CPU_POOL, help="process work pool for CPU work"),
    gpu_pool: str = typer.Option(d.DEFAULT_GPU_POOL, help="process work pool for GPU work"),
    device: List[str] = typer.Option(["cuda"], "--device", help="GPU device a limit is made for (repeat)"),
    gpu_slots: int = typer.Option(1, min=1, help="renders at a time per GPU device"),
    episodes_on: str = typer.Option("cpu", help="pool the series sends episodes to: cpu (animatic) or gpu"),
) -> None:
    """Create the work pools, the episode and series deployments and the per-device concurrency limits."""
    server = d.require_server()
    typer.echo(f"Prefect server {server}")
    p = d.apply(d.plan(workdir, cpu_pool, gpu_pool, tuple(device), gpu_slots, episodes_on), echo=typer.echo)
    typer.echo("start workers with `microdrama worker --pool cpu` and `microdrama worker --pool gpu --device "
               f"cuda:0`; run a series with `prefect deployment run {p.names()[-1]} --param spec_path=… "
               "--param config={}` or `microdrama series spec.yaml --deployment " + p.names()[0] + "`")


def worker(
    pool: str = typer.Option("cpu", help="cpu, gpu, or a work pool's name"),
    device: Optional[str] = typer.Option(None, help="pin the worker's runs to one device: cpu, cuda:0, cuda:1…"),
    name: Optional[str] = typer.Option(None, help="worker name (default: pool-host-device)"),
    limit: Optional[int] = typer.Option(None, min=1, help="flow runs at a time on this worker"),
    cpu_pool: str = typer.Option(d.DEFAULT_CPU_POOL, help="the pool `--pool cpu` means"),
    gpu_pool: str = typer.Option(d.DEFAULT_GPU_POOL, help="the pool `--pool gpu` means"),
) -> None:
    """Start a Prefect process worker on this machine (`prefect worker start`), its runs pinned to `--device`."""
    d.require_server()
    pool_name = d.pool_name(pool, cpu_pool, gpu_pool)
    env = d.worker_env(device)
    typer.echo(f"worker for pool {pool_name}" + (f", CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']!r}"
                                                 if "CUDA_VISIBLE_DEVICES" in env and device else ""))
    code = subprocess.call(d.worker_command(pool_name, name, device, limit), env=env)
    raise typer.Exit(code=code)
