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


EPHEMERAL_SERVICES_OFF = ("SCHEDULER", "LATE_RUNS", "FOREMAN", "REPOSSESSOR", "TRIGGERS", "CANCELLATION_CLEANUP",
                          "PAUSE_EXPIRATIONS", "CLEANUP_RECONCILER", "EVENT_PERSISTER")


def apply_offline_defaults(work_dir: str | Path | None = None) -> None:
    """Set offline defaults without overriding anything the user exported explicitly."""
    for key, value in OFFLINE_DEFAULTS.items():
        os.environ.setdefault(key, value)
    home = Path(work_dir or os.getcwd()) / ".prefect"
    os.environ.setdefault("PREFECT_HOME", str(home))
    if not os.environ.get("PREFECT_API_URL"):
        # No Prefect server configured: Prefect starts a temporary one per process. Its scheduling and
        # housekeeping services have nothing to do in a one-shot local run and cost ~5 s of start-up.
        for service in EPHEMERAL_SERVICES_OFF:
            os.environ.setdefault(f"PREFECT_SERVER_SERVICES_{service}_ENABLED", "false")
        os.environ.setdefault("PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED", "[]")
        # On a busy 2-core machine the temporary server can take longer than Prefect's 20 s default.
        os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
