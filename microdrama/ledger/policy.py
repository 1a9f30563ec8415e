"""Subsidy rules as dated data, and the claim arithmetic over ledger entries.

A programme says which cost categories count, at what rate, up to what cap, and whether corpus
bought from an affiliated party is excluded. The arithmetic sums unrounded Decimal amounts and
rounds once, half-up to the fen, so totals never drift from the line items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from pydantic import Field

from microdrama.domain import Strict, load_model
from microdrama.ledger.store import Category, Entry

FEN = Decimal("0.01")

# Evidence an auditor expects for each manual cost category (see shared/README.md).
REQUIRED_EVIDENCE: dict[str, tuple[str, ...]] = {
    "corpus": ("contract", "invoice"),
    "compute_rental": ("contract", "invoice"),
    "model_api": ("contract", "invoice"),
    "equipment": ("invoice",),
    "software": ("invoice",),
}


def fen(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


class Programme(Strict):
    id: str = Field(pattern=r"^[a-z0-9_.-]+$")
    name: str
    effective_from: date
    effective_to: date | None = None
    source: str = Field(min_length=1, description="the notice or document the numbers come from")
    rate: Decimal = Field(gt=0, le=1, description="share of eligible spend supported, e.g. 0.20")
    cap: Decimal | None = Field(None, gt=0, description="maximum support in RMB; empty for none")
    categories: list[Category] = Field(min_length=1)
    exclude_affiliated_corpus: bool = False

    def in_force(self, start: date, end: date) -> bool:
        return self.effective_from <= end and (self.effective_to is None or self.effective_to >= start)


class PolicyRules(Strict):
    programmes: list[Programme] = Field(min_length=1)

    @classmethod
    def load(cls, path: str | Path | None = None) -> "PolicyRules":
        from microdrama.assets import ASSETS_DIR

        return load_model(cls, Path(path) if path else ASSETS_DIR / "ledger" / "policy_rules.yaml")


@dataclass
class ProgrammeResult:
    programme: Programme
    eligible: Decimal
    subsidy: Decimal
    capped: bool
    included: list[Entry] = field(default_factory=list)
    excluded: list[tuple[Entry, str]] = field(default_factory=list)


def exclusion_reason(entry: Entry, programme: Programme) -> str | None:
    if entry.category == "corpus" and programme.exclude_affiliated_corpus:
        if entry.affiliated is True:
            return f"corpus bought from an affiliated party is not supported ({programme.id})"
        if entry.affiliated is None and entry.kind != "reversal":
            return f"corpus purchase without an affiliation declaration ({programme.id})"
    return None


def compute_programme(entries: list[Entry], programme: Programme) -> ProgrammeResult:
    included, excluded = [], []
    by_seq = {e.seq: e for e in entries}
    for e in entries:
        if e.category not in programme.categories:
            continue
        # A reversal follows the fate of the entry it cancels, so the two always net to zero.
        subject = by_seq.get(e.reverses_seq, e) if e.kind == "reversal" else e
        reason = exclusion_reason(subject, programme)
        if reason:
            excluded.append((e, reason))
        else:
            included.append(e)
    eligible = sum((e.amount_rmb_stored for e in included), Decimal(0))
    raw = eligible * programme.rate
    capped = programme.cap is not None and raw > programme.cap
    subsidy = programme.cap if capped else raw
    return ProgrammeResult(programme, fen(eligible), fen(max(subsidy, Decimal(0))), capped, included, excluded)


def evidence_gaps(entries: list[Entry]) -> list[tuple[Entry, list[str]]]:
    """Manual entries missing the contract, invoice or non-affiliation declaration auditors expect."""
    reversed_seqs = {e.reverses_seq for e in entries if e.reverses_seq is not None}
    gaps = []
    for e in entries:
        if e.kind != "manual" or e.seq in reversed_seqs:
            continue
        have = {ev.get("kind") for ev in e.evidence}
        missing = [k for k in REQUIRED_EVIDENCE.get(e.category, ()) if k not in have]
        if e.category == "corpus" and e.affiliated is False and "declaration" not in have:
            missing.append("declaration")
        if missing:
            gaps.append((e, missing))
    return gaps
