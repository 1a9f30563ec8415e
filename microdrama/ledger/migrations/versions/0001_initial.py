"""Initial ledger schema: the hash-chained entries table and its chain head.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Frozen copy of the schema at this revision: later schema changes get their own revision.
    op.create_table(
        "ledger_entries",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("recorded_at", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("project_code", sa.String(64), nullable=False),
        sa.Column("occurred_on", sa.String(10), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("amount", sa.String(40), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("fx_rate", sa.String(40), nullable=False),
        sa.Column("amount_rmb", sa.String(40), nullable=False),
        sa.Column("quantity", sa.String(40)),
        sa.Column("unit", sa.String(32)),
        sa.Column("unit_price", sa.String(40)),
        sa.Column("rate_ref", sa.String(200)),
        sa.Column("vendor", sa.String(200)),
        sa.Column("contract_no", sa.String(100)),
        sa.Column("invoice_no", sa.String(100)),
        sa.Column("affiliated", sa.Boolean()),
        sa.Column("declaration_ref", sa.String(200)),
        sa.Column("person", sa.String(100)),
        sa.Column("role", sa.String(64)),
        sa.Column("hours", sa.String(40)),
        sa.Column("run_id", sa.String(64)),
        sa.Column("flow", sa.String(64)),
        sa.Column("task", sa.String(64)),
        sa.Column("skill", sa.String(64)),
        sa.Column("skill_version", sa.String(32)),
        sa.Column("backend", sa.String(200)),
        sa.Column("device", sa.String(64)),
        sa.Column("episode", sa.Integer()),
        sa.Column("shot_id", sa.String(64)),
        sa.Column("line_id", sa.String(64)),
        sa.Column("artifact_key", sa.String(64)),
        sa.Column("idempotency_key", sa.String(200), unique=True),
        sa.Column("reverses_seq", sa.Integer()),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
    )
    for name in ("project_code", "occurred_on", "run_id", "artifact_key"):
        op.create_index(f"ix_ledger_entries_{name}", "ledger_entries", [name])
    op.create_table(
        "ledger_chain_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
    )
    head = sa.table("ledger_chain_head", sa.column("id"), sa.column("seq"), sa.column("entry_hash"))
    op.bulk_insert(head, [{"id": 1, "seq": 0, "entry_hash": "0" * 64}])  # the genesis head


def downgrade() -> None:
    op.drop_table("ledger_chain_head")
    op.drop_table("ledger_entries")
