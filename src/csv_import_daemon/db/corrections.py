"""``import --reread --replace``: the file's reading replaces stored content, old values kept.

Only executions still in ``trades`` are touched (a trade the user deleted stays deleted:
the ledger remembers it, nothing here reads the ledger). Each changed field is one row in
``trade_corrections``, written in the caller's transaction, with the update itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, select

from csv_import_daemon.config.commissions import SCHEDULE
from csv_import_daemon.config.contracts import contract_at
from csv_import_daemon.db.tables import CORRECTIONS, TRADES
from csv_import_daemon.parsing.row_parser import Execution

# Everything a file's row says about an execution (not where or when it was imported).
CONTENT_FIELDS = (
    "account",
    "instrument",
    "action",
    "entry_exit",
    "quantity",
    "price",
    "executed_at",
    "commission",
    "order_id",
    "order_name",
    "connection",
    "position_after",
    "extra",
)
# Compared too where the commission came from the commissions setting (before or now): a
# re-read gives the setting in force (trips.schedule). A file's own commission keeps the
# currency it was first stored with, as before.
SCHEDULED_FIELDS = ("commission_currency", "commission_source")
_CHUNK = 500
_SELECT = select(
    TRADES.c.execution_id, *(TRADES.c[k] for k in (*CONTENT_FIELDS, *SCHEDULED_FIELDS))
).where(TRADES.c.execution_id.in_(bindparam("ids", expanding=True)))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat(" ")
    return str(value)


def replace_changed(
    conn: Connection, executions: Sequence[Execution], *, source_file: str, now: datetime
) -> set[str]:
    """Make each stored trade among ``executions`` hold the file's reading.

    Returns the IDs whose stored content differed (and now equals the file's); the old
    and new value of every changed field go to trade_corrections.
    """
    by_id = {ex.execution_id: ex for ex in executions}
    ids = list(by_id)
    stored: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ids), _CHUNK):
        for row in conn.execute(_SELECT, {"ids": ids[i : i + _CHUNK]}).mappings():
            stored[row["execution_id"]] = dict(row)
    changed: set[str] = set()
    corrections: list[dict[str, Any]] = []
    for execution_id in sorted(stored):  # one lock order for concurrent writers
        ex, old = by_id[execution_id], stored[execution_id]
        diff = {k: getattr(ex, k) for k in CONTENT_FIELDS if old[k] != getattr(ex, k)}
        if SCHEDULE in (old["commission_source"] or "") + (ex.commission_source or ""):
            diff |= {k: getattr(ex, k) for k in SCHEDULED_FIELDS if old[k] != getattr(ex, k)}
        if not diff:
            continue
        changed.add(execution_id)
        conn.execute(
            TRADES.update()
            .where(TRADES.c.execution_id == execution_id)
            .values(
                **diff,
                contract=contract_at(ex.instrument, ex.executed_at),
                source_file=source_file,
                source_line=ex.line,
            )
        )
        corrections += [
            {
                "execution_id": execution_id,
                "field": k,
                "old_value": _text(old[k]),
                "new_value": _text(new),
                "source_file": source_file,
                "source_line": ex.line,
                "corrected_at": now,
            }
            for k, new in diff.items()
        ]
    if corrections:
        conn.execute(CORRECTIONS.insert(), corrections)
    return changed


# trades.time_precision (revision 0015): null, to the second as written.
MINUTE_ONLY = "minute"  # written without seconds: the exact time replaces it
UNKNOWN = "unknown"  # a whole minute stored before 0015: never replaced on a guess


def time_precisions(conn: Connection, ids: Sequence[str]) -> dict[str, str | None]:
    """``trades.time_precision`` of the stored trades among ``ids``."""
    found: dict[str, str | None] = {}
    for i in range(0, len(ids), _CHUNK):
        stmt = select(TRADES.c.execution_id, TRADES.c.time_precision).where(
            TRADES.c.execution_id.in_(ids[i : i + _CHUNK])
        )
        found.update((row[0], row[1]) for row in conn.execute(stmt))
    return found


def set_time_precision(conn: Connection, ids: Sequence[str], precision: str | None) -> None:
    """Say how exact the stored times of ``ids`` are (they were just written or read)."""
    ordered = sorted(ids)  # one lock order for concurrent writers
    for i in range(0, len(ordered), _CHUNK):
        conn.execute(
            TRADES.update()
            .where(
                TRADES.c.execution_id.in_(ordered[i : i + _CHUNK]),
                # Rows that already say so are not written again (a re-read of a file).
                TRADES.c.time_precision.is_distinct_from(precision),
            )
            .values(time_precision=precision)
        )


def exact_times(
    conn: Connection,
    refined: Sequence[tuple[Execution, datetime]],
    *,
    source_file: str,
    now: datetime,
) -> set[str]:
    """The exact time of each execution replaces its stored whole minute (``datetime``, a
    time written without seconds), kept in trade_corrections like a repair's.

    The trade keeps its source file (what that file gave, for ``importing.rewrites``); the
    correction names the file and line the seconds came from. Returns the IDs changed
    (none for a trade deleted or changed meanwhile)."""
    changed: set[str] = set()
    for ex, old in sorted(refined, key=lambda pair: pair[0].execution_id):
        done = conn.execute(
            TRADES.update()
            .where(TRADES.c.execution_id == ex.execution_id, TRADES.c.executed_at == old)
            .values(executed_at=ex.executed_at, time_precision=None)
        ).rowcount
        if done:
            changed.add(ex.execution_id)
            conn.execute(
                CORRECTIONS.insert(),
                {
                    "execution_id": ex.execution_id,
                    "field": "executed_at",
                    "old_value": _text(old),
                    "new_value": _text(ex.executed_at),
                    "source_file": source_file,
                    "source_line": ex.line,
                    "corrected_at": now,
                },
            )
    return changed
