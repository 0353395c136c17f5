"""r15: trades.time_precision, whether a stored time was written without seconds.

A spreadsheet's re-save writes 13:10 for 13:10:38. Stored first, that whole minute is
marked "minute", and the exact time of the same fill replaces it when it comes; a time
written with seconds (null) is compared exactly. A trade stored before this revision on a
whole minute may have been either: it is marked "unknown" (never replaced on a guess).

Revision ID: 0015_time_precision
Revises: 0014_trip_commission_currency
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_time_precision"
down_revision = "0014_trip_commission_currency"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trades") as batch:
        batch.add_column(sa.Column("time_precision", sa.String(7), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "UPDATE trades SET time_precision = 'unknown' WHERE strftime('%S', executed_at) = '00'"
        )
    else:
        op.execute(
            "UPDATE trades SET time_precision = 'unknown'"
            " WHERE date_trunc('minute', executed_at) = executed_at"
        )


def downgrade() -> None:
    with op.batch_alter_table("trades") as batch:
        batch.drop_column("time_precision")
