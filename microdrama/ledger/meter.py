"""Automatic metering: a skill call's usage, priced by the rate card, appended to the ledger.

Pipelines call `Meter.record` once per executed step (cached steps consumed nothing). The
idempotency key is derived from the step's artifact key, so a step re-executed after a crash is
recorded once; a deliberate `--force` re-render is a new cost and gets a key of its own.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal

# Run summaries keep 4 places: a CPU-only demo costs fractions of a fen, and that is worth seeing.
# Claims round to the fen (see policy.fen).
RUN_PLACES = Decimal("0.0001")


def _q(value: Decimal) -> Decimal:
    return value.quantize(RUN_PLACES)
from microdrama.ledger.rates import RateCards
from microdrama.ledger.store import EntryIn, Ledger
from microdrama.skill import Usage


@dataclass
class Attribution:
    run_id: str
    project_code: str
    flow: str
    task: str
    episode: int | None = None
    shot_id: str | None = None
    line_id: str | None = None


@dataclass
class CostSummary:
    currency: str
    this_run: Decimal
    episode_total: Decimal
    by_category: dict[str, Decimal] = field(default_factory=dict)
    rate_refs: list[str] = field(default_factory=list)

    def per_minute(self, seconds: float) -> Decimal:
        return _q(self.episode_total / Decimal(str(seconds)) * 60) if seconds > 0 else Decimal(0)


class Meter:
    def __init__(self, ledger: Ledger, rates: RateCards) -> None:
        self.ledger = ledger
        self.rates = rates

    def record(self, who: Attribution, usage: Usage, artifact_key: str, *, force: bool = False,
               billed_failure: bool = False, attempt: str | None = None, day: date | None = None) -> list[int]:
        """Book a step's usage. A billed failure is its own cost: keyed by the provider's id of the failed attempt
        (a re-run that meets the same failed task books nothing twice), or, without one, as a new cost each time."""
        day = day or datetime.now(timezone.utc).date()
        suffix = f":{who.run_id}" if force else ""
        if billed_failure:
            suffix = f":failed:{attempt or uuid.uuid4().hex}"
        items = []
        for line in self.rates.price_usage(usage, day):
            items.append(EntryIn(
                kind="usage", category=line.category, project_code=who.project_code, occurred_on=day,
                description=f"{usage.skill} {line.quantity_name}" + (" (failed call, billed)" if billed_failure else ""),
                amount=line.amount, currency=line.currency, fx_rate=line.fx_rate,
                quantity=line.quantity, unit=line.quantity_name, unit_price=line.unit_price / line.per,
                rate_ref=line.rate_ref, run_id=who.run_id, flow=who.flow, task=who.task, skill=usage.skill,
                skill_version=usage.version, backend=usage.backend, device=usage.device, episode=who.episode,
                shot_id=who.shot_id, line_id=who.line_id, artifact_key=artifact_key,
                idempotency_key=f"usage:{artifact_key}:{line.quantity_name}{suffix}",
                vendor=usage.vendor, details={"usage": usage.model_dump(mode="json")},
            ))
        return [seq for seq, _ in self.ledger.append_many(items)] if items else []

    def summary(self, run_id: str, artifact_keys: set[str]) -> CostSummary:
        """This run's new cost, and the episode's full cost including steps reused from earlier runs."""
        this_run, episode = Decimal(0), Decimal(0)
        by_category: dict[str, Decimal] = defaultdict(Decimal)
        refs: set[str] = set()
        for e in self.ledger.entries_for_artifacts(artifact_keys):
            episode += e.amount_rmb_stored
            by_category[e.category] += e.amount_rmb_stored
            refs.add(e.rate_ref or "")
            if e.run_id == run_id:
                this_run += e.amount_rmb_stored
        return CostSummary("RMB", _q(this_run), _q(episode), {k: _q(v) for k, v in by_category.items()},
                           sorted(r for r in refs if r))
