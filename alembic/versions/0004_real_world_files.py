"""r4: keep every column (trades.extra), corrections by --replace, reading evidence.

Revision ID: 0004_real_world_files
Revises: 0003_backfill_ledger
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_real_world_files"
down_revision = "0003_backfill_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trades") as batch:
        batch.add_column(sa.Column("extra", sa.Text(), nullable=True))
    with op.batch_alter_table("import_files") as batch:
        batch.add_column(sa.Column("date_order_source", sa.String(16), nullable=True))
        batch.add_column(sa.Column("decimal_mark", sa.String(1), nullable=True))
        batch.add_column(sa.Column("settings_digest", sa.String(64), nullable=True))
        batch.add_column(sa.Column("source_timezone", sa.String(64), nullable=True))
    op.create_table(
        "trade_corrections",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("execution_id", sa.String(255), nullable=False),
        sa.Column("field", sa.String(32), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("source_file", sa.Text(), nullable=False),
        sa.Column("source_line", sa.Integer(), nullable=False),
        sa.Column("corrected_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trade_corrections"),
    )
    op.create_index("ix_trade_corrections_execution_id", "trade_corrections", ["execution_id"])


def downgrade() -> None:
    op.drop_index("ix_trade_corrections_execution_id", table_name="trade_corrections")
    op.drop_table("trade_corrections")
    with op.batch_alter_table("import_files") as batch:
        batch.drop_column("source_timezone")
        batch.drop_column("settings_digest")
        batch.drop_column("decimal_mark")
        batch.drop_column("date_order_source")
    with op.batch_alter_table("trades") as batch:
        batch.drop_column("extra")
