"""The R&D cost ledger: usage in, priced and hash-chained entries out, claim packs for subsidies."""

from pathlib import Path

from microdrama.ledger.store import CATEGORIES, Checkpoint, Entry, EntryIn, Ledger, VerifyResult

DEFAULT_LEDGER_FILE = "ledger.sqlite"


def ledger_url(configured: str | None, out_dir: str | Path = "out") -> str:
    """The configured ledger URL, else the SQLite file every run under `out_dir` shares."""
    return configured or f"sqlite:///{(Path(out_dir) / DEFAULT_LEDGER_FILE).resolve()}"


__all__ = ["CATEGORIES", "Checkpoint", "DEFAULT_LEDGER_FILE", "Entry", "EntryIn", "Ledger", "VerifyResult", "ledger_url"]
