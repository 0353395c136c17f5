"""r5: round trips and their fills, derived from trades, plus the index that reads them.

Revision ID: 0005_round_trips
Revises: 0004_real_world_files
Create Date: 2026-11-26

Existing trades get their round trips here, so an upgraded journal needs no --rebuild.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision = "0005_round_trips"
down_revision = "0004_real_world_files"
branch_labels = None
depends_on = None

# Derived sums: NUMERIC(38, 8); canonical text on SQLite (it has no decimal type).
WIDE_MONEY = sa.Numeric(38, 8).with_variant(sa.String(60), "sqlite")
# The data step, frozen beside the revisions (it imports no application code).
FROZEN = Path(__file__).resolve().parent.parent / "frozen_0005_round_trips.py"


def upgrade() -> None:
    op.create_index(
        "ix_trades_account_instrument_executed_at",
        "trades",
        ["account", "instrument", "executed_at"],
    )
    op.create_table(
        "round_trips",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(50), nullable=False),
        sa.Column("instrument", sa.String(50), nullable=False),
        sa.Column("direction", sa.String(5), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime()),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("open_quantity", sa.BigInteger(), nullable=False),
        sa.Column("entry_price", WIDE_MONEY),
        sa.Column("exit_price", WIDE_MONEY),
        sa.Column("points", WIDE_MONEY),
        sa.Column("pnl", WIDE_MONEY),
        sa.Column("commission", WIDE_MONEY),
        sa.Column("net_pnl", WIDE_MONEY),
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
        sa.Column("execution_id", sa.String(255), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("commission", WIDE_MONEY),
        sa.Column("role", sa.String(5), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_trip_id"],
            ["round_trips.id"],
            name="fk_round_trip_fills_round_trip_id_round_trips",
        ),
        sa.PrimaryKeyConstraint("round_trip_id", "seq", name="pk_round_trip_fills"),
    )
    # Trades already in the journal: their round trips, as --rebuild computed them then.
    _frozen().build_round_trips(op.get_bind())


def _frozen() -> ModuleType:
    """The frozen helper, loaded from its file: alembic/ is no importable package in a
    checkout, and the helper must be the file shipped beside this revision."""
    spec = importlib.util.spec_from_file_location("csv_import_migrations_frozen_0005", FROZEN)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"revision 0005: cannot load {FROZEN.name}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def downgrade() -> None:
    op.drop_table("round_trip_fills")
    op.drop_table("round_trips")
    op.drop_index("ix_trades_account_instrument_executed_at", table_name="trades")
