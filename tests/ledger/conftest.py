"""Ledger fixtures: every ledger test runs on SQLite and on a real PostgreSQL server.

PostgreSQL comes from MICRODRAMA_TEST_POSTGRES_URL (`.ci/run` starts one). Outside CI the
PostgreSQL cases skip when no server is configured; in CI (CI=true) a missing server fails.
"""

from __future__ import annotations

import os
from datetime import date
from decimal import Decimal

import pytest

from microdrama.ledger import EntryIn, Ledger
from tests.conftest import fresh_postgres

PG_URL = os.environ.get("MICRODRAMA_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    if not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must test the ledger on PostgreSQL: set MICRODRAMA_TEST_POSTGRES_URL (.ci/run does)")
        pytest.skip("no PostgreSQL configured (set MICRODRAMA_TEST_POSTGRES_URL)")
    return fresh_postgres(PG_URL, "ledger", ("library_versions", "library_assets", "ledger_entries",
                                             "ledger_chain_head", "alembic_version"))


@pytest.fixture
def ledger(ledger_url) -> Ledger:
    led = Ledger(ledger_url)
    yield led
    led.engine.dispose()


def entry(**kw) -> EntryIn:
    base = {"kind": "manual", "category": "staff", "project_code": "P1", "occurred_on": date(2026, 11, 2),
            "amount": Decimal("100")}
    return EntryIn(**{**base, **kw})
