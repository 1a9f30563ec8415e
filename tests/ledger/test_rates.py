from datetime import date
from decimal import Decimal

import pytest

from microdrama.domain import parse_model
from microdrama.errors import InputError
from microdrama.ledger.rates import RateCards
from microdrama.skill import Usage

CARDS = {
    "name": "test_card.yaml",
    "cards": [
        {"effective_from": "2026-01-01", "source": "old quote",
         "rates": [{"id": "cpu", "quantity": "cpu_seconds", "price": "0.36", "per": 3600, "unit": "core-hour",
                    "category": "internal_compute"}],
         "staff_day": {"engineer": "1000"}},
        {"effective_from": "2026-07-01", "source": "new quote",
         "rates": [
             {"id": "gpu-h100", "quantity": "gpu_seconds", "match": {"device": "*H100*"}, "price": "12.80",
              "per": 3600, "unit": "GPU-hour", "category": "compute_rental"},
             {"id": "gpu-own", "quantity": "gpu_seconds", "price": "6", "per": 3600, "unit": "GPU-hour",
              "category": "internal_compute"},
             {"id": "cpu", "quantity": "cpu_seconds", "price": "0.72", "per": 3600, "unit": "core-hour",
              "category": "internal_compute"},
             {"id": "tok-in", "quantity": "tokens_in", "match": {"backend": "*deepseek*"}, "price": "2",
              "per": 1000000, "unit": "1M tokens", "category": "model_api"}],
         "staff_day": {"engineer": "1600"}},
    ],
}


@pytest.fixture
def cards() -> RateCards:
    return parse_model(RateCards, CARDS)


def usage(**kw) -> Usage:
    return Usage(**{"skill": "s", "version": "1", "backend": "b", **kw})


def test_card_in_force_switches_on_its_effective_date(cards):
    u = usage(cpu_seconds=3600)
    assert cards.price_usage(u, date(2026, 6, 30))[0].amount == Decimal("0.36")
    assert cards.price_usage(u, date(2026, 7, 1))[0].amount == Decimal("0.72")
    assert cards.price_usage(u, date(2026, 7, 1))[0].rate_ref == "test_card.yaml@2026-07-01#cpu"


def test_no_card_before_the_first_is_a_clear_error(cards):
    with pytest.raises(InputError, match="no rate card is in force on 2025-12-31"):
        cards.price_usage(usage(cpu_seconds=1), date(2025, 12, 31))


def test_rates_match_on_device_and_backend(cards):
    day = date(2026, 8, 1)
    rented = cards.price_usage(usage(gpu_seconds=1800, device="cuda:0 NVIDIA H100 80GB"), day)
    own = cards.price_usage(usage(gpu_seconds=1800, device="cuda:0 RTX 4090"), day)
    assert (rented[0].category, rented[0].amount) == ("compute_rental", Decimal("6.4"))
    assert (own[0].category, own[0].amount) == ("internal_compute", Decimal("3"))
    api = cards.price_usage(usage(backend="openai-compatible deepseek-chat", quantities={"tokens_in": 250000}), day)
    assert api[0].amount == Decimal("0.5")


def test_quantities_without_a_rate_are_not_priced(cards):
    assert cards.price_usage(usage(quantities={"subtitle_events": 12}), date(2026, 8, 1)) == []


def test_staff_cost_uses_the_day_rate_in_force(cards):
    amount, ref = cards.staff_cost("engineer", Decimal(12), date(2026, 7, 1))
    assert amount == Decimal("2400") and ref.endswith("#staff_day.engineer")
    with pytest.raises(InputError, match="no staff day rate for role 'actor'"):
        cards.staff_cost("actor", Decimal(1), date(2026, 7, 1))


def test_bundled_rate_card_loads_with_sources():
    cards = RateCards.load()
    assert all(c.source for c in cards.cards)
    assert cards.card_for(date(2026, 11, 26)).rates
