"""Library fixtures: every store test runs on SQLite and on a real PostgreSQL server.

PostgreSQL comes from MICRODRAMA_TEST_POSTGRES_URL (`source scripts/ci_postgres.sh`); the library tests use
a database of their own on that server, so they never reset the ledger tests' tables under them. Outside CI
the PostgreSQL cases skip when no server is configured; in CI (CI=true) a missing server fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from microdrama.ledger import Ledger
from microdrama.library import Library
from tests.conftest import fresh_postgres

PG_URL = os.environ.get("MICRODRAMA_TEST_POSTGRES_URL")
TABLES = ("library_versions", "library_assets", "ledger_entries", "ledger_chain_head", "alembic_version")


@pytest.fixture(params=["sqlite", "postgresql"])
def library_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    if not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must test the library on PostgreSQL: set MICRODRAMA_TEST_POSTGRES_URL")
        pytest.skip("no PostgreSQL configured (set MICRODRAMA_TEST_POSTGRES_URL)")
    return fresh_postgres(PG_URL, "library", TABLES)


@pytest.fixture
def library(library_url, tmp_path) -> Library:
    lib = Library(Ledger(library_url), tmp_path / "library")
    yield lib
    lib.engine.dispose()


RIGHTS = {"owner": "星河影业", "licence": "own work", "territories": ["CN"]}


def character(**kw) -> dict:
    base = {"asset_id": "char:lin_xia", "name": "林夏", "look": "白衬衫，黑长发",
            "voice": {"gender": "female", "variant": 1, "pitch": 60},
            "provenance": {"source": "generated", "model": "keyframe-diffusers", "model_version": "1", "seed": 7,
                           "prompt": "林夏"}, "rights": RIGHTS}
    return {**base, **kw}


@pytest.fixture
def picture(tmp_path) -> Path:
    path = tmp_path / "lin_xia.png"
    path.write_bytes(b"\x89PNG not really, but bytes with a hash")
    return path
