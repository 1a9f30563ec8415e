"""Ledger tables (SQLAlchemy 2 Core). Changes go through an Alembic migration in `migrations/`.

Money and quantities are stored as canonical decimal *strings*: exact on SQLite and PostgreSQL
alike, and hashed byte-for-byte in the tamper-evident chain.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, Text

metadata = MetaData()

ENTRY_COLUMNS = [
    Column("seq", Integer, primary_key=True, autoincrement=False),  # assigned by the chain, gap-free
    Column("recorded_at", String(40), nullable=False),
    Column("kind", String(16), nullable=False),  # usage | manual | reversal
    Column("category", String(32), nullable=False),
    Column("project_code", String(64), nullable=False, index=True),
    Column("occurred_on", String(10), nullable=False, index=True),  # ISO date
    Column("description", Text, nullable=False, default=""),
    Column("amount", String(40), nullable=False),  # in `currency`
    Column("currency", String(3), nullable=False),
    Column("fx_rate", String(40), nullable=False),  # RMB per unit of currency, as recorded
    Column("amount_rmb", String(40), nullable=False),
    Column("quantity", String(40)),
    Column("unit", String(32)),
    Column("unit_price", String(40)),
    Column("rate_ref", String(200)),  # which rate card line priced it
    Column("vendor", String(200)),
    Column("contract_no", String(100)),
    Column("invoice_no", String(100)),
    Column("affiliated", Boolean),
    Column("declaration_ref", String(200)),
    Column("person", String(100)),
    Column("role", String(64)),
    Column("hours", String(40)),
    Column("run_id", String(64), index=True),
    Column("flow", String(64)),
    Column("task", String(64)),
    Column("skill", String(64)),
    Column("skill_version", String(32)),
    Column("backend", String(200)),
    Column("device", String(64)),
    Column("episode", Integer),
    Column("shot_id", String(64)),
    Column("line_id", String(64)),
    Column("artifact_key", String(64), index=True),
    Column("idempotency_key", String(200), unique=True),
    Column("reverses_seq", Integer),
    Column("evidence", Text, nullable=False, default="[]"),  # JSON list of {kind, sha256, name}
    Column("details", Text, nullable=False, default="{}"),  # JSON, e.g. raw usage quantities
    Column("prev_hash", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False),
]

entries = Table("ledger_entries", metadata, *ENTRY_COLUMNS)

chain_head = Table(
    "ledger_chain_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("entry_hash", String(64), nullable=False),
)

HASHED_FIELDS = [c.name for c in ENTRY_COLUMNS if c.name != "entry_hash"]
GENESIS = "0" * 64
