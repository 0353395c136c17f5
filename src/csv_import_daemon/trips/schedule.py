"""A changed commissions setting: the fills it would give another commission, and applying it.

An import applies the setting in force to the fills it stores (``parsing.row_parser``);
fills stored before keep the commission they were given, as round trips keep the point
value they were computed with. ``changed_roots`` names the roots whose stored fills the
setting in force would give another commission (``status``, ``verify``, ``round-trips``,
``pnl`` say so), and ``apply_schedule``, run by ``round-trips --rebuild``, gives it to them:
each changed field is kept in ``trade_corrections`` (``commission``,
``commission_currency``, ``commission_source``) with the update. A fill's own reading is
never lost: a commission amount the file gave stays, and one the schedule gave is taken back to
what the file gave (nothing, or its zero, whose own currency a schedule over zero does
not keep).

The fills are read grouped by what decides their commission (instrument, quantity, stored
commission, currency and source): a few rows per instrument, however many fills.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from csv_import_daemon.config.commissions import (
    SCHEDULE,
    SCHEDULE_OVER_ZERO,
    CommissionSchedule,
    file_reading,
)
from csv_import_daemon.config.point_values import instrument_root
from csv_import_daemon.trips.sql import TripSql

_SCHEDULED = (SCHEDULE, SCHEDULE_OVER_ZERO)
# Fills the schedule may concern: all but the file's own amounts (a file's zero too when
# some entry applies to zero, as the schedule then replaces it).
_GROUPS = (  # "< or >", not "<>": each side a range of ix_trades_commission_source_quantity
    "SELECT instrument, quantity, commission, commission_currency, commission_source "
    "FROM trades WHERE commission_source IS NULL OR commission_source < 'file' "
    "OR commission_source > 'file' "
    "GROUP BY instrument, quantity, commission, commission_currency, commission_source"
)
_GROUPS_WITH_ZERO = {  # SQLite keeps decimal text ('0.00'): compared as a number there
    True: (
        "SELECT instrument, quantity, commission, commission_currency, commission_source "
        "FROM trades WHERE commission_source IS NULL OR commission_source <> 'file' "
        "OR CAST(commission AS REAL) = 0 "
        "GROUP BY instrument, quantity, commission, commission_currency, commission_source"
    ),
    False: (
        "SELECT instrument, quantity, commission, commission_currency, commission_source "
        "FROM trades WHERE commission_source IS NULL OR commission_source <> 'file' "
        "OR commission = 0 "
        "GROUP BY instrument, quantity, commission, commission_currency, commission_source"
    ),
}
# Without a schedule only the fills it gave can change (back to the file's reading).
_GROUPS_SCHEDULED = (
    "SELECT instrument, quantity, commission, commission_currency, commission_source "
    "FROM trades WHERE commission_source IN ('schedule', 'schedule_over_zero') "
    "GROUP BY instrument, quantity, commission, commission_currency, commission_source"
)
# A group's fills, matched null-safely on what was grouped (SQLite: IS; PostgreSQL: IS NOT
# DISTINCT FROM).
_FILLS = {
    True: (
        "SELECT execution_id, source_file, source_line FROM trades WHERE instrument = ? "
        "AND quantity = ? AND commission IS ? AND commission_currency IS ? "
        "AND commission_source IS ?"
    ),
    False: (
        "SELECT execution_id, source_file, source_line FROM trades WHERE instrument = ? "
        "AND quantity = ? AND commission IS NOT DISTINCT FROM ? "
        "AND commission_currency IS NOT DISTINCT FROM ? "
        "AND commission_source IS NOT DISTINCT FROM ?"
    ),
}
_UPDATE = {
    True: (
        "UPDATE trades SET commission = ?, commission_currency = ?, commission_source = ? "
        "WHERE instrument = ? AND quantity = ? AND commission IS ? "
        "AND commission_currency IS ? AND commission_source IS ?"
    ),
    False: (
        "UPDATE trades SET commission = ?, commission_currency = ?, commission_source = ? "
        "WHERE instrument = ? AND quantity = ? AND commission IS NOT DISTINCT FROM ? "
        "AND commission_currency IS NOT DISTINCT FROM ? "
        "AND commission_source IS NOT DISTINCT FROM ?"
    ),
}
_CORRECTION = (
    "INSERT INTO trade_corrections (execution_id, field, old_value, new_value, source_file, "
    "source_line, corrected_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
Group = tuple[Any, ...]  # instrument, quantity, commission, currency, source (as stored)
Change = tuple[Decimal | None, str | None, str | None]  # the commission, currency, source due


def _groups(sql: TripSql, schedule: CommissionSchedule) -> list[Group]:
    zero = any(rate.apply_to_zero for rate in schedule.table.values())
    query = _GROUPS_WITH_ZERO[sql.sqlite] if zero else _GROUPS
    if not schedule.table:
        query = _GROUPS_SCHEDULED
    return [tuple(r) for r in sql.run(query).all()]


def _due(schedule: CommissionSchedule, group: Group) -> Change | None:
    """What the setting gives the group's fills, or None when that is what they have."""
    instrument, quantity, stored, currency, source = group
    amount = None if stored is None else Decimal(str(stored))
    due = schedule.applied(instrument, int(quantity), *file_reading(amount, currency, source))
    scheduled = source in _SCHEDULED or due[2] in _SCHEDULED
    return due if scheduled and due != (amount, currency, source) else None


def _changes(sql: TripSql, schedule: CommissionSchedule) -> Iterator[tuple[Group, Change]]:
    for group in _groups(sql, schedule):
        due = _due(schedule, group)
        if due is not None:
            yield group, due


def changed_roots(conn: Connection, schedule: CommissionSchedule) -> tuple[str, ...]:
    """The roots of stored fills the setting in force would give another commission."""
    roots = {instrument_root(group[0]) for group, _ in _changes(TripSql(conn), schedule)}
    return tuple(sorted(roots))


def _shown(amount: Decimal | None) -> str | None:
    return None if amount is None else format(amount, "f")


def apply_schedule(conn: Connection, schedule: CommissionSchedule, now: datetime) -> int:
    """Give the stored fills the setting's commissions (before a rebuild); how many fills
    changed, each recorded in ``trade_corrections``."""
    sql = TripSql(conn)
    changed = 0
    for group, (amount, currency, source) in list(_changes(sql, schedule)):
        fills = sql.run(_FILLS[sql.sqlite], group).all()
        sql.run(_UPDATE[sql.sqlite], (sql.money(amount), currency, source, *group))
        before = None if group[2] is None else Decimal(str(group[2]))
        # Every field that changes is logged; amounts compared as numbers (PostgreSQL
        # reads 1.86 back as 1.86000000), currency and source as text.
        fields = [
            (field, old, new)
            for field, old, new, differs in (
                ("commission", _shown(before), _shown(amount), before != amount),
                ("commission_currency", group[3], currency, group[3] != currency),
                ("commission_source", group[4], source, group[4] != source),
            )
            if differs
        ]
        for execution_id, source_file, source_line in fills:
            for field, old, new in fields:
                sql.run(
                    _CORRECTION,
                    (execution_id, field, old, new, source_file, source_line, sql.time(now)),
                )
        changed += len(fills)
    return changed
