"""r5: round trips and their fills, derived from trades, plus the index that reads them.

Revision ID: 0005_round_trips
Revises: 0003_backfill_ledger
Create Date: 2026-11-26

Existing trades get their round trips here, so an upgraded journal needs no --rebuild.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from csv_import_daemon.db.models import LIMITS, WideDecimal

revision = "0005_round_trips"
down_revision = "0004_real_world_files"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_trades_account_instrument_executed_at",
        "trades",
        ["account", "instrument", "executed_at"],
    )
    op.create_table(
        "round_trips",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(LIMITS["account"]), nullable=False),
        sa.Column("instrument", sa.String(LIMITS["instrument"]), nullable=False),
        sa.Column("direction", sa.String(5), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime()),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("open_quantity", sa.BigInteger(), nullable=False),
        sa.Column("entry_price", WideDecimal()),
        sa.Column("exit_price", WideDecimal()),
        sa.Column("points", WideDecimal()),
        sa.Column("pnl", WideDecimal()),
        sa.Column("commission", WideDecimal()),
        sa.Column("net_pnl", WideDecimal()),
        sa.Column("currency", sa.String(3)),
        sa.PrimaryKeyConstraint("id", name="pk_round_trips"),
    )
    op.create_index(
        "ix_round_trips_account_instrument_opened_at",
        "round_trips",
        ["account", "instrument", "opened_at"],
    )
    op.create_index(
        "ix_round_trips_account_instrument_closed_at",
        "round_trips",
        ["account", "instrument", "closed_at"],
    )
    op.create_table(
        "round_trip_fills",
        sa.Column("round_trip_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("execution_id", sa.String(LIMITS["execution_id"]), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("commission", WideDecimal()),
        sa.Column("role", sa.String(5), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_trip_id"],
            ["round_trips.id"],
            name="fk_round_trip_fills_round_trip_id_round_trips",
        ),
        sa.PrimaryKeyConstraint("round_trip_id", "seq", name="pk_round_trip_fills"),
    )
    # Trades already in the journal: their round trips, computed as --rebuild would.
    from csv_import_daemon.trips.refresh import rebuild_round_trips  # noqa: PLC0415

    rebuild_round_trips(op.get_bind())


def downgrade() -> None:
    op.drop_table("round_trip_fills")
    op.drop_table("round_trips")
    op.drop_index("ix_trades_account_instrument_executed_at", table_name="trades")
