"""r17: trades.commission_source, where a fill's commission came from.

``file`` (the file's Commission cell), ``schedule`` (the commissions setting: the file gave
none), ``schedule_over_zero`` (the setting replaced the file's zero), null (neither gave
one). Trades imported before this revision have their file's commission: ``file`` where
they have one, null otherwise.

Revision ID: 0017_commission_source
Revises: 0016_trades_source_file
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_commission_source"
down_revision = "0016_trades_source_file"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trades") as batch:
        batch.add_column(sa.Column("commission_source", sa.String(20), nullable=True))
    op.execute("UPDATE trades SET commission_source = 'file' WHERE commission IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("trades") as batch:
        batch.drop_column("commission_source")
