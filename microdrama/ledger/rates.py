"""Dated rate cards: the only place where usage becomes money.

A rate card file holds cards with an `effective_from` date and a `source`; the card in force on a
date is the latest one that started on or before it. Each rate prices one usage quantity
(`cpu_seconds`, `gpu_seconds`, `tokens_in`, `video_seconds`, …), optionally only for usage whose
skill/backend/device matches a glob, and names the cost category it lands in. Every priced
line carries a `rate_ref` such as `rate_card.yaml@2026-11-01#gpu-h100-rented`, so every report
can say which rate applied.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from pydantic import Field, model_validator

from microdrama.domain import Strict, load_model
from microdrama.errors import InputError
from microdrama.ledger.store import Category
from microdrama.skill import Usage


def default_rate_card_path() -> Path:
    from microdrama.assets import ASSETS_DIR

    return ASSETS_DIR / "ledger" / "rate_card.yaml"


class Rate(Strict):
    id: str = Field(pattern=r"^[a-z0-9_.-]+$", description="a short id, cited in every priced line")
    quantity: str = Field(description="usage quantity it prices: cpu_seconds, gpu_seconds, tokens_in, ...")
    price: Decimal = Field(ge=0, description="price in the card's currency per `per` units")
    per: Decimal = Field(Decimal(1), gt=0, description="how many units the price is for (3600 s, 1000000 tokens)")
    unit: str = Field(description="display unit of the price, e.g. 'GPU-hour', '1M tokens'")
    category: Category = Field(description="cost category the amount lands in")
    match: dict[str, str] = Field(
        default_factory=dict, description="globs on usage fields (skill, backend, device) that must all match"
    )
    note: str = ""

    def applies_to(self, usage: Usage) -> bool:
        fields = {"skill": usage.skill, "backend": usage.backend, "device": usage.device}
        return all(fnmatch.fnmatchcase(str(fields.get(k, "")), pattern) for k, pattern in self.match.items())


class RateCard(Strict):
    effective_from: date = Field(description="first day this card applies (YYYY-MM-DD)")
    source: str = Field(min_length=1, description="where the prices come from (quote, invoice, public price list)")
    rates: list[Rate] = Field(default_factory=list)
    staff_day: dict[str, Decimal] = Field(default_factory=dict, description="day rate per staff role")
    fx_rate: Decimal = Field(Decimal(1), gt=0, description="RMB per unit of the file's currency while this card is in force")

    @model_validator(mode="after")
    def _unique_ids(self) -> "RateCard":
        ids = [r.id for r in self.rates]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"rate ids must be unique within a card; repeated: {', '.join(dupes)}")
        return self


class RateCards(Strict):
    currency: str = Field("RMB", pattern=r"^[A-Z]{3}$", description="currency of every price in the file")
    cards: list[RateCard] = Field(min_length=1)
    name: str = Field("rate_card", description="label used in rate references")

    @model_validator(mode="after")
    def _distinct_dates(self) -> "RateCards":
        if self.currency != "RMB" and any(c.fx_rate == 1 for c in self.cards):
            raise ValueError(f"prices in {self.currency} need fx_rate (RMB per {self.currency}) on every card")
        days = [c.effective_from for c in self.cards]
        if len(set(days)) != len(days):
            raise ValueError("two cards start on the same effective_from date; merge them or change one date")
        self.cards.sort(key=lambda c: c.effective_from)
        return self

    @classmethod
    def load(cls, path: str | Path | None = None) -> "RateCards":
        path = Path(path) if path else default_rate_card_path()
        cards = load_model(cls, path)
        if cards.name == "rate_card":
            cards.name = path.name
        return cards

    def card_for(self, day: date) -> RateCard:
        in_force = [c for c in self.cards if c.effective_from <= day]
        if not in_force:
            raise InputError(f"no rate card is in force on {day}: the earliest starts {self.cards[0].effective_from}. "
                             "Add a card with an earlier effective_from.")
        return in_force[-1]

    def ref(self, card: RateCard, rate_id: str) -> str:
        return f"{self.name}@{card.effective_from}#{rate_id}"

    def price_usage(self, usage: Usage, day: date) -> list["PricedLine"]:
        """Price every quantity of a usage record with the first matching rate of the card in force."""
        card = self.card_for(day)
        quantities = {"cpu_seconds": usage.cpu_seconds, "gpu_seconds": usage.gpu_seconds, **usage.quantities}
        lines = []
        for name, value in quantities.items():
            if not value:
                continue
            rate = next((r for r in card.rates if r.quantity == name and r.applies_to(usage)), None)
            if rate is None:
                continue  # physical usage with no price (e.g. subtitle events): stays in the manifest only
            qty = Decimal(str(value))
            lines.append(PricedLine(quantity_name=name, quantity=qty, unit_price=rate.price, per=rate.per,
                                    unit=rate.unit, amount=qty * rate.price / rate.per, category=rate.category,
                                    rate_ref=self.ref(card, rate.id), currency=self.currency,
                                    fx_rate=card.fx_rate))
        return lines

    def staff_cost(self, role: str, hours: Decimal, day: date) -> tuple[Decimal, str]:
        card = self.card_for(day)
        if role not in card.staff_day:
            raise InputError(f"no staff day rate for role '{role}' in the card from {card.effective_from}; "
                             f"known roles: {', '.join(sorted(card.staff_day)) or 'none'}. Add it or give an amount.")
        return hours / Decimal(8) * card.staff_day[role], self.ref(card, f"staff_day.{role}")


@dataclass(frozen=True)
class PricedLine:
    quantity_name: str
    quantity: Decimal
    unit_price: Decimal
    per: Decimal
    unit: str
    amount: Decimal
    category: str
    rate_ref: str
    currency: str
    fx_rate: Decimal
