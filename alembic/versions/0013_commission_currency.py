"""r13: trades.commission_currency, the ISO code of the commission's symbol or code.

Null where the Commission cell shows no symbol or code, and in trades imported before this
revision (their files' symbols were not kept; re-reading them is not this revision's job).

Revision ID: 0013_commission_currency
Revises: 0012_open_lots
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_commission_currency"
down_revision = "0012_open_lots"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trades") as batch:
        batch.add_column(sa.Column("commission_currency", sa.String(3), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trades") as batch:
        batch.drop_column("commission_currency")
