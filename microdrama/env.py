"""Offline-first process settings, applied before Prefect or Hugging Face libraries are imported.

Pilot-base machines and CI have no internet: model hubs must never be contacted, and Prefect must
keep its state inside the work directory rather than in ~/.prefect.
"""

from __future__ import annotations

import os
from pathlib import Path

OFFLINE_DEFAULTS = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_UI_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    # The in-process server can log a spurious "Error flushing events" traceback while the process
    # exits right after a fast flow (an upstream shutdown race); the run itself is complete.
    "PREFECT_SERVER_LOGGING_LEVEL": "CRITICAL",
}


def apply_offline_defaults(work_dir: str | Path | None = None) -> None:
    """Set offline defaults without overriding anything the user exported explicitly."""
    for key, value in OFFLINE_DEFAULTS.items():
        os.environ.setdefault(key, value)
    home = Path(work_dir or os.getcwd()) / ".prefect"
    os.environ.setdefault("PREFECT_HOME", str(home))
