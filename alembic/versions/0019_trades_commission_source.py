"""r19: an index on trades(commission_source, quantity).

Every report command (``status``, ``pnl``, ``round-trips``, the page) first checks the round
trips against ``trades``: the quantity of every trade against the parts', and which stored
fills the ``commissions`` setting in force would give another commission. Each read every
trade (``SCAN trades``: 0.1 s a million fills, each), the second also where no fill has a
commission from the setting (the usual case: each had its file's). This index holds both:
the quantities are summed from it alone, and the fills of a source are found in it.

Revision ID: 0019_trades_commission_source
Revises: 0018_round_trip_bookings
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0019_trades_commission_source"
down_revision = "0018_round_trip_bookings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_trades_commission_source_quantity", "trades", ["commission_source", "quantity"]
    )


def downgrade() -> None:
    op.drop_index("ix_trades_commission_source_quantity", table_name="trades")
