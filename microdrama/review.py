"""Human review of takes: who approved or rejected which take of which shot, when, and why.

Drama is made by people choosing takes, and the review is evidence: it lives in the run folder
(`review.json`), the manifest carries it (`review`), and the online filing pack and the claim pack cite
it. A decision is about a take's *content* (its store key), so approving take 2 of a shot does not carry
over to a take 2 re-rendered from an edited prompt: that one waits for review again.

Which take goes into the cut: the newest approved take; else the first take nobody rejected; else take 1.
"""

from __future__ import annotations

import getpass
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from microdrama.errors import InputError
from microdrama.files import atomic_write_text

REVIEW_FILE = "review.json"
MAX_TAKES = 20  # the same ceiling as `--takes` and VisualsInput.take
_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def reviewer_name(given: str | None = None) -> str:
    """Who is deciding: the name given, else the account running the tool."""
    name = (given or "").strip()
    if not name:
        try:
            name = getpass.getuser()
        except Exception:  # no login name in some containers
            name = "unknown"
    if len(name) > 60:
        raise InputError("reviewer: at most 60 characters")
    return name


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Decision(BaseModel):
    shot_id: str
    take: int = Field(ge=1, le=MAX_TAKES)
    key: str | None = Field(None, description="the take's store key when decided: the decision holds for that content")
    verdict: Literal["approved", "rejected"]
    reason: str = Field("", max_length=300)
    by: str
    at: str


class Redo(BaseModel):
    shot_id: str
    takes: int = Field(ge=1, le=MAX_TAKES, description="takes the shot should have after this redo")
    note: str = ""
    by: str
    at: str


class ReviewLog(BaseModel):
    """Everything people decided about one episode's takes, oldest first (nothing is ever removed)."""

    decisions: list[Decision] = Field(default_factory=list)
    redos: list[Redo] = Field(default_factory=list)

    # -- reading -------------------------------------------------------------------------------------

    @classmethod
    def load(cls, run_dir: Path) -> "ReviewLog":
        path = Path(run_dir) / REVIEW_FILE
        if not path.is_file():
            return cls()
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise InputError(f"{path} is not a review record ({str(exc).splitlines()[0]}); restore it from the "
                             "manifest's `review` or remove it to start the review again") from None

    def takes_for(self, shot_id: str, default: int) -> int:
        """How many takes a shot should have: the run's count, or more where a person asked for a redo."""
        asked = [r.takes for r in self.redos if r.shot_id == shot_id]
        return max([default, *asked])

    def verdict(self, shot_id: str, take: int, key: str | None) -> Decision | None:
        """The newest decision about this take's current content."""
        for d in reversed(self.decisions):
            if d.shot_id == shot_id and d.take == take and (d.key is None or key is None or d.key == key):
                return d
        return None

    def in_cut(self, shot_id: str, keys: dict[int, str | None]) -> int:
        """The take the cut uses, among the takes that rendered (take number -> store key)."""
        for d in reversed(self.decisions):  # the newest approval of a take as it is now
            if (d.shot_id == shot_id and d.verdict == "approved" and d.take in keys
                    and self.verdict(shot_id, d.take, keys[d.take]) is d):
                return d.take
        for take in sorted(keys):
            d = self.verdict(shot_id, take, keys[take])
            if not (d and d.verdict == "rejected"):
                return take
        return min(keys)

    def summary(self) -> dict[str, Any]:
        """For the manifest and the filing packs: counts, reviewers, and every decision."""
        if not self.decisions and not self.redos:
            return {}
        return {"approved": sum(d.verdict == "approved" for d in self.decisions),
                "rejected": sum(d.verdict == "rejected" for d in self.decisions),
                "redos": len(self.redos), "reviewers": sorted({d.by for d in self.decisions} | {r.by for r in self.redos}),
                "last_decision_at": max((d.at for d in self.decisions), default=None),
                "decisions": [d.model_dump() for d in self.decisions],
                "redo_requests": [r.model_dump() for r in self.redos]}

    # -- writing (under the episode's lock, so two people deciding at once lose nothing) -----------------

    @staticmethod
    def lock(run_dir: Path) -> threading.Lock:
        with _locks_guard:
            return _locks.setdefault(Path(run_dir).resolve(), threading.Lock())

    @classmethod
    def record(cls, run_dir: Path, *, shot_id: str, take: int, key: str | None,
               verdict: Literal["approved", "rejected"], reason: str = "", by: str | None = None) -> Decision:
        if verdict == "rejected" and not reason.strip():
            raise InputError("reason: say why the take is rejected (e.g. 'face changes', 'hand artefacts')")
        decision = Decision(shot_id=shot_id, take=take, key=key, verdict=verdict, reason=reason.strip()[:300],
                            by=reviewer_name(by), at=now())
        with cls.lock(run_dir):
            log = cls.load(run_dir)
            log.decisions.append(decision)
            log.save(run_dir)
        return decision

    @classmethod
    def ask_redo(cls, run_dir: Path, *, shot_id: str, takes: int, note: str = "", by: str | None = None) -> Redo:
        if not 1 <= takes <= MAX_TAKES:
            raise InputError(f"takes: a shot can have 1 to {MAX_TAKES} takes")
        redo = Redo(shot_id=shot_id, takes=takes, note=note.strip()[:300], by=reviewer_name(by), at=now())
        with cls.lock(run_dir):
            log = cls.load(run_dir)
            log.redos.append(redo)
            log.save(run_dir)
        return redo

    def save(self, run_dir: Path) -> None:
        atomic_write_text(Path(run_dir) / REVIEW_FILE, self.model_dump_json(indent=2))
