"""r9: stand-in IDs from a fill's meaning, recomputed from the stored trades.

Up to release 0.2.0 a file without an ID column gave each row a stand-in ``nt-`` + a hash
of its text, so a spreadsheet's re-save of the same export (``13:10`` for ``1:10:38 PM``,
``16793.00`` for ``16793``, a hidden or moved column) stored every fill again. Stand-ins
are now ``ntm-`` + a hash of the fill's meaning: account, instrument, side, quantity, price
and the local minute as written, plus the count of earlier fills of the same meaning in
its file. This revision renames each stored stand-in it can recompute from its trade, in
trades, the ledger, round-trip parts, corrections and rejections:

- the local time is the stored UTC time in the zone the file's checkpoint was read in (or
  the one zone every checkpoint shares, for a file whose checkpoint moved or is gone);
- a date is written as the application's ``wall_date`` reads it: month-first when it can
  be read so; so a day of 12 or less of a day-first file needs the file's date order;
- the count is taken over the trades of one source file in line order.

What it cannot recompute keeps its old ID, and the importer still recognises a row by its
old stand-in (a trade deleted since, whose ledger row alone remains, stays deleted): no
zone or date order known; and a trade whose new ID another trade already took (the same
fill stored twice before, under two old IDs: kept as it was, never merged here).
Frozen: the rule is written out below. Downgrade keeps the new IDs (the old ones cannot
be recomputed from stored values).

Revision ID: 0009_meaning_stand_ins
Revises: 0008_file_ctime
Create Date: 2026-12-05
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from alembic import op

revision = "0009_meaning_stand_ins"
down_revision = "0008_file_ctime"
branch_labels = None
depends_on = None

_OLD = re.compile(r"nt-[0-9a-f]{32}")
_NEW_PREFIX = "ntm-"
_BUYS = frozenset({"buy", "buytocover"})
# Every table that names an execution: its stand-in renamed where the rename says.
_RENAMES = [
    f"UPDATE {table} SET execution_id = (SELECT new_id FROM stand_in_renames"  # noqa: S608 - constant names
    f" WHERE old_id = {table}.execution_id)"
    " WHERE execution_id IN (SELECT old_id FROM stand_in_renames)"
    for table in (
        "trades",
        "imported_executions",
        "round_trip_fills",
        "trade_corrections",
        "import_rejections",
    )
]
_CHUNK = 1000


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _only(values: list[str | None]) -> str | None:
    found = {v for v in values if v}
    return found.pop() if len(found) == 1 else None


def _conventions(conn: sa.Connection) -> tuple[dict[str, tuple[str | None, str | None]], Any]:
    """Per checkpoint path: (zone, date order); and the ones every checkpoint shares."""
    rows = conn.execute(
        sa.text("SELECT path, source_timezone, date_order FROM import_files")
    ).fetchall()
    per_path: dict[str, tuple[str | None, str | None]] = {}
    for path, zone, order in rows:
        old_zone, old_order = per_path.get(path, (None, None))
        per_path[path] = (old_zone or zone, old_order or order)
    shared = (_only([r[1] for r in rows]), _only([r[2] for r in rows]))
    return per_path, shared


def _minute(executed_at: Any, zone: ZoneInfo, order: str | None) -> str | None:
    if isinstance(executed_at, str):
        executed_at = datetime.fromisoformat(executed_at)
    local = executed_at.replace(tzinfo=UTC).astimezone(zone)
    month, day = local.month, local.day
    if day <= 12 and day != month and order != "mdy":
        # A date both orders read, in a file read day-first (or unknown): written 'd/m/y'
        # the importer's stand-in reads it month-first, written ISO it does not, and the
        # stored trade no longer says which. Not guessed: the old ID stays, recognised by
        # the importer (db.legacy_ids).
        return None
    return f"{local.year}-{month}-{day} {local.hour}:{local.minute}"


def _key(row: Any, minute: str) -> str:
    side = "B" if str(row.action).replace(" ", "").lower() in _BUYS else "S"
    price = format(Decimal(str(row.price)).normalize(), "f")
    return "\x1f".join((row.account, row.instrument, side, str(row.quantity), price, minute))


def _new_ids(conn: sa.Connection) -> dict[str, str]:
    per_path, shared = _conventions(conn)
    rows = conn.execute(
        sa.text(
            "SELECT execution_id, account, instrument, action, quantity, price, executed_at,"
            " source_file FROM trades WHERE execution_id LIKE 'nt-%'"
            " ORDER BY source_file, source_line, id"
        )
    )
    renames: dict[str, str] = {}
    taken: set[str] = set()
    counts: Counter[tuple[str, str]] = Counter()
    for row in rows:
        if not _OLD.fullmatch(row.execution_id):
            continue
        zone_name, order = per_path.get(row.source_file, (None, None))
        zone = _zone(zone_name or shared[0])
        minute = None if zone is None else _minute(row.executed_at, zone, order or shared[1])
        if minute is None:
            continue
        key = _key(row, minute)
        seen = counts[(row.source_file, key)]
        counts[(row.source_file, key)] = seen + 1
        new = _NEW_PREFIX + hashlib.sha256(f"{key}\x1f{seen}".encode()).hexdigest()[:32]
        if new in taken:
            continue
        taken.add(new)
        renames[row.execution_id] = new
    return renames


def upgrade() -> None:
    conn = op.get_bind()
    renames = _new_ids(conn)
    if not renames:
        return
    mapping = sa.table("stand_in_renames", sa.column("old_id"), sa.column("new_id"))
    op.create_table(
        "stand_in_renames",
        sa.Column("old_id", sa.String(255), primary_key=True),
        sa.Column("new_id", sa.String(255), nullable=False),
    )
    items = [{"old_id": k, "new_id": v} for k, v in renames.items()]
    for i in range(0, len(items), _CHUNK):
        conn.execute(sa.insert(mapping), items[i : i + _CHUNK])
    for statement in _RENAMES:
        conn.execute(sa.text(statement))
    op.drop_table("stand_in_renames")


def downgrade() -> None:
    """Nothing to undo in the schema; the new IDs stay (see the module docstring)."""
