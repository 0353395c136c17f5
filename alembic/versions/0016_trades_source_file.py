"""r16: an index on trades(source_file, executed_at).

What a file gave is known as the trades it stored first (``trades.source_file``): the check
of a file without IDs saved over (``importing.rewrites``) and the archiver's last fill of a
file named without a date looked it up by a scan of every trade (``SCAN trades``), once per
rewritten file: seconds on a journal of years.

Revision ID: 0016_trades_source_file
Revises: 0015_time_precision
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0016_trades_source_file"
down_revision = "0015_time_precision"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_trades_source_file_executed_at", "trades", ["source_file", "executed_at"])


def downgrade() -> None:
    op.drop_index("ix_trades_source_file_executed_at", table_name="trades")
