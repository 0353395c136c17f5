"""r10: trades.contract, and round trips per (account, contract) instead of per instrument.

``MNQ 06-26``, ``MNQ JUN26``, ``MNQM26`` and ``MNQM6`` name one contract; round trips split
over two spellings are joined. Existing trades get their contract and their round trips
are rebuilt here, so an upgraded journal needs no --rebuild.

Revision ID: 0010_contracts
Revises: 0009_meaning_stand_ins
Create Date: 2026-12-05
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision = "0010_contracts"
down_revision = "0009_meaning_stand_ins"
branch_labels = None
depends_on = None

FROZEN = Path(__file__).resolve().parent.parent / "frozen_0010_contracts.py"


def upgrade() -> None:
    with op.batch_alter_table("trades") as batch:
        batch.add_column(sa.Column("contract", sa.String(60), nullable=True))
    frozen = _frozen()
    frozen.fill_contracts(op.get_bind())
    op.drop_index("ix_trades_account_instrument_executed_at", table_name="trades")
    op.create_index(
        "ix_trades_account_contract_executed_at",
        "trades",
        ["account", "contract", "executed_at"],
    )
    with op.batch_alter_table("round_trips") as batch:
        batch.add_column(sa.Column("contract", sa.String(60), nullable=True))
    op.drop_index("ix_round_trips_account_instrument_opened_at", table_name="round_trips")
    op.drop_index("ix_round_trips_account_instrument_closed_at", table_name="round_trips")
    op.create_index(
        "ix_round_trips_account_contract_opened_at",
        "round_trips",
        ["account", "contract", "opened_at"],
    )
    op.create_index(
        "ix_round_trips_account_contract_closed_at",
        "round_trips",
        ["account", "contract", "closed_at"],
    )
    op.execute("DELETE FROM round_trip_fills")
    op.execute("DELETE FROM round_trips")
    frozen.build_round_trips(op.get_bind())


def _frozen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("csv_import_migrations_frozen_0010", FROZEN)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"revision 0010: cannot load {FROZEN.name}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def downgrade() -> None:
    op.drop_index("ix_round_trips_account_contract_opened_at", table_name="round_trips")
    op.drop_index("ix_round_trips_account_contract_closed_at", table_name="round_trips")
    with op.batch_alter_table("round_trips") as batch:
        batch.drop_column("contract")
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
    op.drop_index("ix_trades_account_contract_executed_at", table_name="trades")
    op.create_index(
        "ix_trades_account_instrument_executed_at",
        "trades",
        ["account", "instrument", "executed_at"],
    )
    with op.batch_alter_table("trades") as batch:
        batch.drop_column("contract")
    op.execute("DELETE FROM round_trip_fills")
    op.execute("DELETE FROM round_trips")
    five = importlib.util.spec_from_file_location(
        "csv_import_migrations_frozen_0005_down", FROZEN.parent / "frozen_0005_round_trips.py"
    )
    if five is None or five.loader is None:
        raise RuntimeError("revision 0010: cannot load frozen_0005_round_trips.py")
    module = importlib.util.module_from_spec(five)
    five.loader.exec_module(module)
    module.build_round_trips(op.get_bind())
