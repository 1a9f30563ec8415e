"""What a run shows in Prefect: progress lines in the run's log, the cost as a table artifact."""

from __future__ import annotations

import contextlib
import logging
from typing import Callable

from prefect import get_run_logger

from microdrama.run import RunSummary


def publish_cost_artifact(summary: RunSummary) -> None:
    """The run's cost as a Prefect table artifact, visible in the Prefect UI next to the flow run."""
    if summary.cost is None:
        return
    from prefect.artifacts import create_table_artifact

    c = summary.cost
    rows = [{"item": "this run", "RMB": c.this_run}, {"item": "episode total", "RMB": c.episode_total},
            {"item": "per finished minute", "RMB": c.per_finished_minute}]
    rows += [{"item": f"category: {k}", "RMB": v} for k, v in c.by_category.items()]
    try:
        create_table_artifact(key="episode-cost", table=rows, description=f"Run {summary.run_id} cost (RMB)")
    except Exception as exc:  # outside a flow run there is nowhere to publish; the manifest has it
        logging.getLogger(__name__).debug("cost artifact not published: %s", exc)


def echo_and_log(echo: Callable[[str], None] | None) -> Callable[[str], None]:
    def progress(message: str) -> None:
        (echo or print)(message)
        with contextlib.suppress(Exception):  # outside a flow run context (plain-function tests)
            get_run_logger().info(message)
    return progress
