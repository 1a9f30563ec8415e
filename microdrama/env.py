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
    "PREFECT_LOGGING_LEVEL": "WARNING",  # Prefect's own client and engine chatter
    # A run's progress lines go to its log on the server at INFO, where the team reads them; the console
    # handler stays at WARNING, so a terminal shows them once (the pipeline prints its own progress).
    "PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL": "INFO",
    "PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL": "INFO",
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
    # The in-process server can log a spurious "Error flushing events" traceback while the process
    # exits right after a fast flow (an upstream shutdown race); the run itself is complete.
    "PREFECT_SERVER_LOGGING_LEVEL": "CRITICAL",
}


ENV_MODELS_DIR = "MICRODRAMA_MODELS_DIR"


def cache_dir() -> Path:
    """The machine's cache for derived files that outlive runs (assembled model weights, report fonts):
    `$MICRODRAMA_CACHE`, else ~/.cache/microdrama."""
    return Path(os.environ.get("MICRODRAMA_CACHE") or Path.home() / ".cache" / "microdrama")


def model_folder(path: str | Path) -> Path:
    """Where a model's local folder is: as given when absolute, else under $MICRODRAMA_MODELS_DIR (default
    ./models). One rule for diffusion models, LoRAs, voices and interpolation models."""
    path = Path(path)
    return path if path.is_absolute() else Path(os.environ.get(ENV_MODELS_DIR, "models")) / path


EPHEMERAL_SERVICES_OFF = ("SCHEDULER", "LATE_RUNS", "FOREMAN", "REPOSSESSOR", "TRIGGERS", "CANCELLATION_CLEANUP",
                          "PAUSE_EXPIRATIONS", "CLEANUP_RECONCILER", "EVENT_PERSISTER")


def profile_api_url(environ: dict[str, str] | None = None) -> str | None:
    """The Prefect server the user configured the normal way (`prefect config set PREFECT_API_URL=…` writes it
    into the active profile of ~/.prefect/profiles.toml), or None."""
    environ = os.environ if environ is None else environ
    home = Path(environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    path = Path(environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    try:
        import tomllib  # Python 3.11+
    except ImportError:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib  # type: ignore
        except ImportError:
            return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    active = environ.get("PREFECT_PROFILE") or data.get("active") or "default"
    url = (data.get("profiles") or {}).get(active, {}).get("PREFECT_API_URL")
    return str(url) if url else None


def prefect_server(environ: dict[str, str] | None = None) -> str:
    """Which Prefect server runs will report to, in words, for the CLI to say."""
    url = (os.environ if environ is None else environ).get("PREFECT_API_URL")
    return f"Prefect server {url}" if url else ("a temporary local Prefect server (set PREFECT_API_URL, or "
                                               "`prefect config set PREFECT_API_URL=…`, to use a shared one)")


def apply_offline_defaults(work_dir: str | Path | None = None) -> None:
    """Set offline defaults without overriding anything the user exported explicitly. A Prefect server the user
    configured (environment or profile) is used; only without one do runs keep Prefect's state in the work tree."""
    for key, value in OFFLINE_DEFAULTS.items():
        os.environ.setdefault(key, value)
    if not os.environ.get("PREFECT_API_URL"):
        configured = profile_api_url()
        if configured:
            os.environ["PREFECT_API_URL"] = configured
    if os.environ.get("PREFECT_API_URL"):
        return  # the team's server: its own profile, home and logging apply
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
