"""The digital-asset and IP library (microdrama/library): assets and their immutable versions.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Frozen copy of the schema at this revision. `if_not_exists`: a database whose version table was
    # dropped (a reset ledger) keeps its library rather than failing to upgrade.
    op.create_table(
        "library_assets",
        sa.Column("asset_id", sa.String(80), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("latest", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("retired_at", sa.String(40)),
        sa.Column("retired_reason", sa.Text()),
        if_not_exists=True,
    )
    op.create_table(
        "library_versions",
        sa.Column("asset_id", sa.String(80), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),  # the version as JSON: files, provenance, rights, consents
        sa.Column("record_sha256", sa.String(64), nullable=False),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table("library_versions")
    op.drop_table("library_assets")
