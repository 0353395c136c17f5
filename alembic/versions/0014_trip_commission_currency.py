"""r14: round_trips.commission_currency, the currency its ``commission`` is in.

Where it differs from ``currency`` (the P&L's), ``net_pnl`` is null: amounts in two
currencies are never netted. Existing round trips keep their P&L currency here (their
trades' commission currencies are null before revision 0013: taken to be the P&L's).

Revision ID: 0014_trip_commission_currency
Revises: 0013_commission_currency
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_trip_commission_currency"
down_revision = "0013_commission_currency"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("round_trips") as batch:
        batch.add_column(sa.Column("commission_currency", sa.String(3), nullable=True))
    op.execute("UPDATE round_trips SET commission_currency = currency")


def downgrade() -> None:
    with op.batch_alter_table("round_trips") as batch:
        batch.drop_column("commission_currency")
