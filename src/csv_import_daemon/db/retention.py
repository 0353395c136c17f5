"""Ledger retention: prune old ledger rows without letting an old file resurrect a trade.

The ledger (``imported_executions``) remembers every execution ID ever imported, so a trade
the user deleted is never brought back by a file read again. ``db prune-ledger --before``
removes the ledger rows of executions before a moment whose trades still exist (the trades'
own unique key still deduplicates those) and records that moment, the horizon, in
``ledger_retention``. From then on an execution before the horizon that is neither in the
ledger nor in trades may be one whose trade was deleted after the prune: it is refused
(``before_retention_horizon``), never stored. Ledger rows of trades deleted before the
prune are kept, so those stay remembered exactly as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, bindparam, func, insert, select, union

from csv_import_daemon.db.tables import LEDGER, RETENTION, TRADES
from csv_import_daemon.parsing.execution import Execution

LOOKUP_IDS = 1000  # IDs per query: well under every parameter limit

_KNOWN = union(
    select(LEDGER.c.execution_id).where(
        LEDGER.c.execution_id.in_(bindparam("ids", expanding=True))
    ),
    select(TRADES.c.execution_id).where(
        TRADES.c.execution_id.in_(bindparam("ids", expanding=True))
    ),
)


def horizon(conn: Connection) -> datetime | None:
    """The latest horizon pruned before (UTC), or None when the ledger was never pruned."""
    value: datetime | None = conn.scalar(select(func.max(RETENTION.c.horizon)))
    return value


def prune_ledger(conn: Connection, before: datetime, now: datetime) -> int:
    """Remove the ledger rows of executions before ``before`` (UTC) whose trades exist and
    move the horizon there (never back); the number of rows removed."""
    old_trades = select(TRADES.c.execution_id).where(TRADES.c.executed_at < before)
    removed = conn.execute(
        LEDGER.delete().where(LEDGER.c.execution_id.in_(old_trades.scalar_subquery()))
    ).rowcount
    current = horizon(conn)
    conn.execute(
        insert(RETENTION).values(
            horizon=before if current is None else max(current, before),
            pruned_at=now,
            rows_pruned=removed,
        )
    )
    return int(removed)


def refused(conn: Connection, executions: Sequence[Execution]) -> set[str]:
    """IDs of ``executions`` before the horizon that neither the ledger nor trades know:
    perhaps deleted after a prune, so never stored (one cheap query when none is old)."""
    limit = horizon(conn)
    if limit is None:
        return set()
    old = sorted({ex.execution_id for ex in executions if ex.executed_at < limit})
    known: set[str] = set()
    for i in range(0, len(old), LOOKUP_IDS):
        ids = old[i : i + LOOKUP_IDS]
        known.update(conn.scalars(_KNOWN, {"ids": ids}))
    return set(old) - known
