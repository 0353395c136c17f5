"""r7: ledger_retention, one row per ``db prune-ledger``: the horizon it pruned before.

Revision ID: 0007_ledger_retention
Revises: 0006_daemon_instances
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_ledger_retention"
down_revision = "0006_daemon_instances"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_retention",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("horizon", sa.DateTime(), nullable=False),
        sa.Column("pruned_at", sa.DateTime(), nullable=False),
        sa.Column("rows_pruned", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_retention"),
    )


def downgrade() -> None:
    op.drop_table("ledger_retention")
