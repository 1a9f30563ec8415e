"""The studio's warm worker: one long-lived render thread in the studio's process (`microdrama studio`).

A cold `microdrama episode` pays Python imports, the skill registry and a Prefect start-up before the first
step; here that is paid once, when the studio starts (`warm`). Renders run one at a time, in order, so two
edits to one episode never render over each other; an edit that arrives while its episode is still queued
joins that render instead of queueing another.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.task_runners import ThreadPoolTaskRunner

from microdrama.config import ProjectConfig
from microdrama.errors import MicrodramaError
from microdrama.pipelines.episode import render_episode

MAX_JOBS_KEPT = 200


@dataclass
class Job:
    """One render of one episode, with its progress lines (the page streams them)."""

    run_name: str
    reasons: list[str]
    config: ProjectConfig
    source: Path
    out_dir: Path
    takes: int = 1
    budget_rmb: Decimal | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    state: str = "queued"  # queued, running, done, failed
    lines: list[str] = field(default_factory=list)
    error: str | None = None
    summary: dict[str, Any] | None = None
    queued_at: float = field(default_factory=time.time)
    seconds: float | None = None
    ended: threading.Event = field(default_factory=threading.Event, repr=False)  # set once done or failed

    def say(self, message: str) -> None:
        self.lines.append(message)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "episode": self.run_name, "state": self.state, "reasons": self.reasons,
                "lines": self.lines, "error": self.error, "seconds": self.seconds,
                "summary": self.summary}


_JOBS: dict[str, Job] = {}  # the flow below finds its job here: a Job is not a flow parameter Prefect can store


@flow(name="studio-render", task_runner=ThreadPoolTaskRunner(max_workers=4), log_prints=False,
      flow_run_name="studio-{run_name}")
def studio_render(job_id: str, run_name: str) -> dict[str, Any]:
    """The episode flow's body for one studio job (same steps, same store, same ledger)."""
    from microdrama.quote import Budget

    job = _JOBS[job_id]
    budget = Budget(cap=job.budget_rmb) if job.budget_rmb is not None else None
    summary = render_episode(job.source, job.config, job.out_dir, run_name, echo=job.say, budget=budget,
                             takes=job.takes)
    return summary.model_dump(mode="json", include={"run_id", "video", "duration_s", "wall_seconds", "steps_run",
                                                    "steps_cached"})


def _no_heartbeats():
    """Flow runs without heartbeats: they tell a server that a remote worker died, but this worker is the studio's
    own thread, and stopping the heartbeat thread costs each render up to 1 s at its end."""
    return temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})


@flow(name="studio-warm-up")
def _warm_up() -> None:
    """Nothing: starting it brings up the Prefect server connection once, before the first edit."""


class RenderWorker:
    def __init__(self) -> None:
        self._queue: queue.Queue[Job] = queue.Queue()
        self._lock = threading.Lock()
        self.jobs: dict[str, Job] = {}
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="microdrama-studio-worker", daemon=True)

    def start(self, warm: bool = True) -> "RenderWorker":
        self._thread.start()
        if warm:
            threading.Thread(target=self._warm, name="microdrama-studio-warm", daemon=True).start()
        else:
            self.ready.set()
        return self

    def _warm(self) -> None:
        try:
            from microdrama.html_fonts import prepare_page_fonts
            from microdrama.registry import default_registry

            default_registry()
            prepare_page_fonts()
            with _no_heartbeats():
                _warm_up()
        finally:
            self.ready.set()

    def submit(self, run_name: str, reason: str, *, config: ProjectConfig, source: Path, out_dir: Path,
               takes: int = 1, budget_rmb: Decimal | None = None) -> Job:
        """Queue a render of the episode, or join the one already waiting for it."""
        with self._lock:
            for job in self.jobs.values():
                if job.run_name == run_name and job.state == "queued":
                    job.reasons.append(reason)
                    job.config, job.takes, job.budget_rmb = config, takes, budget_rmb
                    return job
            job = Job(run_name=run_name, reasons=[reason], config=config, source=source, out_dir=out_dir,
                      takes=takes, budget_rmb=budget_rmb)
            self.jobs[job.id] = job
            while len(self.jobs) > MAX_JOBS_KEPT:
                oldest = next(iter(self.jobs))
                if self.jobs[oldest].state in ("queued", "running"):
                    break
                del self.jobs[oldest]
        self._queue.put(job)
        return job

    def busy(self, run_name: str) -> Job | None:
        """The render of this episode queued or running, if any."""
        with self._lock:
            return next((j for j in self.jobs.values()
                         if j.run_name == run_name and j.state in ("queued", "running")), None)

    def _loop(self) -> None:
        with _no_heartbeats():  # entered once: building a settings object costs ~0.07 s, on every edit if per render
            while True:
                self._run(self._queue.get())

    def _run(self, job: Job) -> None:
        self.ready.wait()
        job.state = "running"
        started = time.perf_counter()
        _JOBS[job.id] = job
        try:
            job.summary = studio_render(job_id=job.id, run_name=job.run_name)
            job.state = "done"
        except MicrodramaError as exc:
            job.error, job.state = str(exc), "failed"
        except Exception as exc:  # a bug: keep the worker alive, show the error, keep the traceback
            job.error, job.state = f"{type(exc).__name__}: {exc}", "failed"
            job.say(traceback.format_exc(limit=6))
        finally:
            job.seconds = round(time.perf_counter() - started, 2)
            _JOBS.pop(job.id, None)
            job.ended.set()
            self._queue.task_done()

    def wait(self, job: Job, timeout: float = 600) -> Job:
        """Block until the job is done or failed (tests, the CLI through the studio)."""
        if not job.ended.wait(timeout):
            raise TimeoutError(f"render of {job.run_name} still {job.state} after {timeout:.0f} s")
        return job
