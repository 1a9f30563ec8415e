"""What a run shows in Prefect: progress lines in the run's log, and per-episode artifacts a team can open
from the flow run — the cost (quote against actual), the storyboard, the label checks and the run folder.

Artifact keys name the episode (`cost-<series>-ep03`), so every episode of every series keeps its own
artifacts, and a re-render adds a new version under the same key instead of overwriting another episode's.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from prefect import get_run_logger

from microdrama.run import Run, RunSummary

log = logging.getLogger(__name__)


def artifact_key(kind: str, name: str) -> str:
    """A Prefect artifact key (lowercase letters, digits, dashes) for this kind of artifact of run `name`.
    A name with letters outside a-z (寻味上海-ep01) keeps a key of its own through a short hash of the name."""
    lowered = name.lower()
    slug = re.sub(r"[^a-z0-9]+", "-", lowered).strip("-")
    if re.fullmatch(r"[a-z0-9_-]+", lowered) is None:
        slug = f"{slug}-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:8]}".strip("-")
    return f"{kind}-{slug}"


def _in_flow_run() -> bool:
    from prefect.context import FlowRunContext

    return FlowRunContext.get() is not None


def cost_rows(summary: RunSummary, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The cost table: third-party spend quoted before the run against what it actually cost, per stage,
    then the ledger's totals for the episode."""
    rows = [{"item": f"stage: {stage}", "quoted": s.get("quoted"), "actual": s.get("actual"),
             "difference": s.get("difference"), "why": s.get("why")}
            for stage, s in (manifest.get("spend") or {}).items()]
    quote = manifest.get("quote") or {}
    if quote:
        rows.append({"item": "quoted total (model APIs)", "quoted": quote.get("total"), "actual": None,
                     "difference": None, "why": quote.get("note")})
    c = summary.cost
    if c is not None:
        rows += [{"item": "this run", "quoted": None, "actual": c.this_run, "difference": None, "why": None},
                 {"item": "episode total", "quoted": None, "actual": c.episode_total, "difference": None,
                  "why": "includes steps reused from earlier runs"},
                 {"item": "per finished minute", "quoted": None, "actual": c.per_finished_minute,
                  "difference": None, "why": None}]
        rows += [{"item": f"category: {k}", "quoted": None, "actual": v, "difference": None, "why": None}
                 for k, v in c.by_category.items()]
    return rows


def label_rows(label_reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"file": Path(r["path"]).name, "ok": r["ok"], "clause": c["clause"], "clause ok": c["ok"],
             "detail": c["detail"]} for r in label_reports for c in r.get("clauses", [])]


def publish_artifacts(run: Run, summary: RunSummary, label_reports: list[dict[str, Any]]) -> list[str]:
    """The episode's artifacts in the Prefect UI, next to its flow run; returns the keys published.
    Outside a flow run there is nowhere to publish (the run folder and manifest have it all)."""
    if not _in_flow_run():
        return []
    from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

    name = Path(summary.run_dir).name
    run_dir = Path(summary.run_dir).resolve()
    manifest_path = run_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {}
    board = run_dir / "storyboard.png"
    published = []
    actions = [
        ("cost", lambda key: create_table_artifact(
            key=key, table=cost_rows(summary, manifest),
            description=f"{name}: cost in {summary.cost.currency if summary.cost else 'RMB'}, quoted vs actual "
                        f"(run {summary.run_id})")),
        ("storyboard", lambda key: create_markdown_artifact(
            key=key, markdown=f"### {name} storyboard\n\n![storyboard]({board.as_uri()})\n\n`{board}` · "
                              f"[contact sheet]({(run_dir / 'storyboard.html').as_uri()})",
            description=f"{name}: the storyboard contact sheet") if board.is_file() else None),
        ("labels", lambda key: create_table_artifact(
            key=key, table=label_rows(label_reports),
            description=f"{name}: AIGC label checks of every published file") if label_reports else None),
        ("folder", lambda key: create_link_artifact(
            key=key, link=run_dir.as_uri(), link_text=str(run_dir),
            description=f"{name}: the run folder (episode.mp4, manifest.json, filing packs)")),
    ]
    # Side by side: each is a round trip to the server on a client of its own (~20 ms), the last thing a render waits on.
    with ThreadPoolExecutor(max_workers=len(actions), thread_name_prefix="microdrama-artifacts") as pool:
        futures = [(key, pool.submit(contextvars.copy_context().run, create, key))  # the flow run's context
                   for key, create in ((artifact_key(kind, name), create) for kind, create in actions)]
    for key, future in futures:
        try:
            if future.result() is not None:
                published.append(key)
        except Exception as exc:  # a report must never fail a finished render; the manifest has it all
            log.warning("artifact %s not published: %s", key, exc)
    return published


def publish_series_artifact(slug: str, rows: list[dict[str, Any]], title: str) -> str | None:
    """One table for the whole series: every episode, finished or failed, with why."""
    if not _in_flow_run():
        return None
    from prefect.artifacts import create_table_artifact

    key = artifact_key("series", slug)
    try:
        create_table_artifact(key=key, table=rows, description=f"{title}: episodes")
    except Exception as exc:
        log.warning("artifact %s not published: %s", key, exc)
        return None
    return key


def echo_and_log(echo: Callable[[str], None] | None) -> Callable[[str], None]:
    """Progress goes to the console (or the caller's echo) and, inside a flow run, to the run's log on the
    server, where the team reads it."""
    def progress(message: str) -> None:
        (echo or print)(message)
        with contextlib.suppress(Exception):  # outside a flow run context (plain-function tests)
            get_run_logger().info(message)
    return progress
