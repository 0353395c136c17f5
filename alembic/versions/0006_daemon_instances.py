"""r6: daemon_instances, one heartbeat row per daemon instance (for ``status``).

Revision ID: 0006_daemon_instances
Revises: 0005_round_trips
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_daemon_instances"
down_revision = "0005_round_trips"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daemon_instances",
        sa.Column("instance", sa.String(255), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("config_file", sa.Text(), nullable=True),
        sa.Column("watch_dir", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
        sa.Column("stopped_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("instance", name="pk_daemon_instances"),
    )


def downgrade() -> None:
    op.drop_table("daemon_instances")
