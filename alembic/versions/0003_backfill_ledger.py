"""r3: backfill the ledger from existing trades, set-based.

Revision ID: 0003_backfill_ledger
Revises: 0002_imported_executions
Create Date: 2026-11-25
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0003_backfill_ledger"
down_revision = "0002_imported_executions"
branch_labels = None
depends_on = None

log = logging.getLogger("csv_import_daemon.migrations")

BACKFILL = "BACKFILL"


def upgrade() -> None:
    # One INSERT ... SELECT; IDs already in the ledger are left alone.
    result = op.get_bind().execute(
        sa.text(
            "INSERT INTO imported_executions "
            "(execution_id, csv_filename, import_timestamp, account, instrument) "
            "SELECT t.execution_id, :tag, t.executed_at, t.account, t.instrument "
            "FROM trades t "
            "WHERE NOT EXISTS (SELECT 1 FROM imported_executions ie "
            "WHERE ie.execution_id = t.execution_id)"
        ),
        {"tag": BACKFILL},
    )
    # An identifier as the event name, the number as a field (logs are JSON events).
    log.info("backfilled", extra={"count": result.rowcount, "table": "imported_executions"})


def downgrade() -> None:
    op.get_bind().execute(
        sa.text("DELETE FROM imported_executions WHERE csv_filename = :tag"), {"tag": BACKFILL}
    )
