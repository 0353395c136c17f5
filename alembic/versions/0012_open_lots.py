"""r12: round_trip_state, the open round trip's FIFO state (its open lots), one row each.

An import that continues an open round trip reads this row instead of the round trip's
fills, so a position that never returns to flat costs each file its own fills only.
Existing open round trips get no row: their next refresh recomputes them and writes it.

Revision ID: 0012_open_lots
Revises: 0011_recorded_settings
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_open_lots"
down_revision = "0011_recorded_settings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "round_trip_state",
        sa.Column("round_trip_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_trip_id"],
            ["round_trips.id"],
            name="fk_round_trip_state_round_trip_id_round_trips",
        ),
        sa.PrimaryKeyConstraint("round_trip_id", name="pk_round_trip_state"),
    )


def downgrade() -> None:
    op.drop_table("round_trip_state")
