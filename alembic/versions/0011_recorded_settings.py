"""r11: instance_settings, the reading settings each instance recorded when first used, and
import_files.pinned_date_order / pinned_decimal_mark, a repair's settings kept with its file.

A command that does not give the settings that decide stored values (zone, date order,
decimal mark, default account) uses the recorded ones; one that gives other values is
refused. A repair's explicit date order and decimal mark stay with the file, so later
appends and re-reads read it the same way.

Revision ID: 0011_recorded_settings
Revises: 0010_contracts
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_recorded_settings"
down_revision = "0010_contracts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instance_settings",
        sa.Column("instance", sa.String(255), nullable=False),
        sa.Column("source_timezone", sa.String(64), nullable=False),
        sa.Column("date_order", sa.String(4), nullable=True),
        sa.Column("decimal_mark", sa.String(1), nullable=True),
        sa.Column("default_account", sa.String(50), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("instance", name="pk_instance_settings"),
    )
    with op.batch_alter_table("import_files") as batch:
        batch.add_column(sa.Column("pinned_date_order", sa.String(3), nullable=True))
        batch.add_column(sa.Column("pinned_decimal_mark", sa.String(1), nullable=True))
    # A journal of an earlier release: an instance whose files were all read in one zone has
    # that zone recorded, so its first command without a zone does not record the host's.
    op.execute(
        "INSERT INTO instance_settings (instance, source_timezone, recorded_at, updated_at) "
        "SELECT instance, min(source_timezone), CURRENT_TIMESTAMP, CURRENT_TIMESTAMP "
        "FROM import_files WHERE source_timezone IS NOT NULL "
        "GROUP BY instance HAVING count(DISTINCT source_timezone) = 1"
    )


def downgrade() -> None:
    with op.batch_alter_table("import_files") as batch:
        batch.drop_column("pinned_decimal_mark")
        batch.drop_column("pinned_date_order")
    op.drop_table("instance_settings")
