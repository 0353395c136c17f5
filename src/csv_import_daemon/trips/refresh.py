"""Keep ``round_trips`` and ``round_trip_fills`` equal to a from-scratch FIFO over ``trades``.

``refresh_round_trips`` runs inside the import's write transaction, just before its commit:
a kill can never leave round trips that disagree with trades. For each changed (account,
contract) it goes back to the last flat point before the earliest changed fill (a point
no round trip spans, not even within one second), deletes the round trips from there on and
recomputes them. Cost: the fills of the affected round trips, read through
``ix_trades_account_contract_executed_at``; never the whole journal.

The common case, every fill of the transaction later than every fill stored before it (a
cold import, an append), reads back only the fills of the open round trip and takes the
transaction's own fills from memory: reading them back cost as much as the import itself.
A count through the same index proves the case; anything else (an older fill arriving late,
a replaced fill) recomputes from ``trades`` as above.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from itertools import chain
from typing import Any, NamedTuple

from sqlalchemy import Connection

from csv_import_daemon.config.commissions import CommissionSchedule
from csv_import_daemon.config.contracts import contract_at
from csv_import_daemon.config.point_values import PointValue, PointValues
from csv_import_daemon.config.sides import side_of
from csv_import_daemon.db.tables import utc_now
from csv_import_daemon.logs import get_logger
from csv_import_daemon.trips.changes import Key, Pending, TripChanges
from csv_import_daemon.trips.continuation import continue_open, open_states
from csv_import_daemon.trips.fifo import Fill, FillLike, TripBuilder
from csv_import_daemon.trips.positions import position_mismatches
from csv_import_daemon.trips.schedule import apply_schedule
from csv_import_daemon.trips.sql import TripSql, write_trips

__all__ = ["Refreshed", "TripChanges", "rebuild_round_trips", "refresh_round_trips"]

log = get_logger(__name__)

PAGE = 50_000  # trades read per query; a second's fills are never split across pages
FLUSH = 5_000  # round trips written per statement batch

_ZERO = Decimal(0)


def refresh_round_trips(
    conn: Connection, changes: TripChanges | Mapping[Key, datetime], *, values: PointValues
) -> Refreshed:
    """Recompute the round trips ``changes`` affect (a mapping: earliest change per key)."""
    if not isinstance(changes, TripChanges):
        plain = TripChanges()
        for (account, contract), when in changes.items():
            plain.note(account, contract, when)
        changes = plain
    with _no_cycle_collection():
        pending = changes.pending()
    if not pending.earliest:
        return Refreshed(0, 0, 0)
    sql = TripSql(conn)
    keys = sorted(pending.earliest)
    if not sql.sqlite:
        # Writers on several machines: one at a time per (account, contract), locked in
        # one order so two transactions cannot deadlock on these locks (one statement
        # takes them all, in that order).
        rows, params = sql.key_rows(keys, ("text", "text"))
        sql.run(
            f"SELECT pg_advisory_xact_lock(hashtextextended(k.a || chr(31) || k.c, 13)) "  # noqa: S608
            f"FROM ({rows}) AS k ORDER BY k.n",
            params,
        )
    with _no_cycle_collection(), sql.held():
        written, continued = _refresh_keys(sql, keys, pending, values)
    for mismatch in position_mismatches(conn, keys):
        log.warning(
            "position_mismatch",
            account=mismatch.account,
            instrument=mismatch.instrument,
            file_says=mismatch.file_says,
            computed=mismatch.computed,
        )
    return Refreshed(written, continued, len(keys) - continued)


def _refresh_keys(
    sql: TripSql, keys: list[Key], pending: Pending, values: PointValues
) -> tuple[int, int]:
    written = continued = 0
    later = _all_later(sql, pending)
    states = open_states(sql, sorted(later))
    for key in keys:
        changed = pending.earliest[key]
        fresh = pending.fresh.get(key)
        if fresh is not None and key not in later:
            fresh = None
        value = values.lookup(key[1])
        if fresh is not None:  # an append: from the open round trip's state, if stored
            done = continue_open(sql, key, fresh, value, states.get(key))
            if done is not None:
                continued += 1
                written += done
                continue
        start = _restart_point(sql, key, changed)
        _delete_from(sql, key, start)
        if fresh is None:
            written += _compute(sql, key, _pages(sql, key, start), value)
        else:
            continued += 1
            old: Iterable[Sequence[FillLike]] = _pages(sql, key, start, until=changed)
            pages = chain(old, [fresh])
            written += _compute(sql, key, pages, value)
    return written, continued


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """No cyclic garbage collection while the round trips are computed.

    They allocate many small objects, nearly all freed by reference counting: each
    full collection would only scan the whole import's objects again (measured: 0.6 s of
    CPU in a 300k-fill import). Cycles elsewhere are collected as soon as it ends.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Refreshed(NamedTuple):
    """What one refresh did: round trips written, keys continued in memory, recomputed."""

    written: int
    continued: int
    recomputed: int


def _all_later(sql: TripSql, pending: Pending) -> set[Key]:
    """The keys with inserted fills of which no fill stored before this transaction is at
    or after the earliest change: their trades from then on are just those fills. One
    statement counts them for every key."""
    keys = sorted(pending.fresh)
    if not keys:
        return set()
    rows, params = sql.key_rows(
        [(a, c, sql.time(pending.earliest[a, c])) for a, c in keys], ("text", "text", "timestamp")
    )
    counts = sql.run(
        f"SELECT (SELECT count(*) FROM trades WHERE account = k.a AND contract = k.c "  # noqa: S608
        f"AND executed_at >= k.v0) FROM ({rows}) AS k ORDER BY k.n",
        params,
    ).scalars()
    return {
        key
        for key, count in zip(keys, counts, strict=True)
        if int(count) == len(pending.fresh[key])
    }


def rebuild_round_trips(
    conn: Connection,
    values: PointValues | None = None,
    schedule: CommissionSchedule | None = None,
) -> int:
    """Recompute every round trip from ``trades`` (after trades were edited by hand), the
    fills first given the commissions ``schedule``'s (when given: ``trips.schedule``)."""
    sql = TripSql(conn)
    values = values or PointValues()
    if schedule is not None:
        apply_schedule(conn, schedule, utc_now())
    sql.run("DELETE FROM round_trip_state")
    sql.run("DELETE FROM round_trip_bookings")
    sql.run("DELETE FROM round_trip_fills")
    sql.run("DELETE FROM round_trips")
    fill_contracts(sql)
    keys = [
        tuple(r)
        for r in sql.run("SELECT DISTINCT account, contract FROM trades WHERE contract IS NOT NULL")
    ]
    written = 0
    for account, contract in sorted(keys):
        key = (account, contract)
        written += _compute(sql, key, _pages(sql, key, None), values.lookup(contract))
    return written


def fill_contracts(sql: TripSql) -> int:
    """Give a contract to the trades that have none (rows written by hand); how many."""
    rows = sql.run("SELECT id, instrument, executed_at FROM trades WHERE contract IS NULL")
    updates = [(contract_at(name, sql.read_time(when)), row_id) for row_id, name, when in rows]
    for start in range(0, len(updates), FLUSH):
        chunk = updates[start : start + FLUSH]
        sql.conn.exec_driver_sql(
            "UPDATE trades SET contract = ? WHERE id = ?"
            if sql.sqlite
            else "UPDATE trades SET contract = %s WHERE id = %s",
            chunk,
        )
    return len(updates)


def _restart_point(sql: TripSql, key: Key, changed: datetime) -> datetime:
    """The last flat point at or before ``changed`` that no round trip spans."""
    account, contract = key
    row = sql.run(
        "SELECT min(opened_at) FROM round_trips "
        "WHERE account = ? AND contract = ? AND closed_at >= ?",
        (account, contract, sql.time(changed)),
    ).first()
    start = changed
    if row is not None and row[0] is not None:
        start = min(start, sql.read_time(row[0]))
    else:
        last = sql.run(
            "SELECT opened_at, closed_at FROM round_trips WHERE account = ? AND contract = ? "
            "ORDER BY opened_at DESC LIMIT 1",
            (account, contract),
        ).first()
        if last is not None and last[1] is None:  # the open round trip
            start = min(start, sql.read_time(last[0]))
    while True:  # a round trip that closed in that very second shares its ordering
        prev = sql.run(
            "SELECT opened_at, closed_at FROM round_trips WHERE account = ? AND contract = ? "
            "AND opened_at < ? ORDER BY opened_at DESC LIMIT 1",
            (account, contract, sql.time(start)),
        ).first()
        if prev is None or (prev[1] is not None and sql.read_time(prev[1]) < start):
            return start
        start = sql.read_time(prev[0])


def _delete_from(sql: TripSql, key: Key, start: datetime) -> None:
    params = (key[0], key[1], sql.time(start))
    sql.run(
        "DELETE FROM round_trip_state WHERE round_trip_id IN (SELECT id FROM round_trips "
        "WHERE account = ? AND contract = ? AND opened_at >= ?)",
        params,
    )
    sql.run(
        "DELETE FROM round_trip_bookings WHERE round_trip_id IN (SELECT id FROM round_trips "
        "WHERE account = ? AND contract = ? AND opened_at >= ?)",
        params,
    )
    sql.run(
        "DELETE FROM round_trip_fills WHERE round_trip_id IN (SELECT id FROM round_trips "
        "WHERE account = ? AND contract = ? AND opened_at >= ?)",
        params,
    )
    sql.run("DELETE FROM round_trips WHERE account = ? AND contract = ? AND opened_at >= ?", params)


def _compute(
    sql: TripSql, key: Key, pages: Iterable[Sequence[FillLike]], value: PointValue | None
) -> int:
    builder = TripBuilder()
    written = 0
    for fills in pages:
        builder.feed(fills)
        if len(builder.done) >= FLUSH:
            written += write_trips(sql, key, builder.take_done(), value)
    trips = builder.take_done()
    if builder.trip is not None:
        trips.append(builder.trip)
    return written + write_trips(sql, key, trips, value, builder.lots)


# A page of one key's fills in time order: from a moment on, before one, or both.
_PAGE_SQL = {
    (False, False): (
        "SELECT execution_id, executed_at, action, entry_exit, quantity, price, commission, "
        "instrument, commission_currency "
        "FROM trades WHERE account = ? AND contract = ? ORDER BY executed_at LIMIT ?"
    ),
    (True, False): (
        "SELECT execution_id, executed_at, action, entry_exit, quantity, price, commission, "
        "instrument, commission_currency "
        "FROM trades WHERE account = ? AND contract = ? AND executed_at >= ? "
        "ORDER BY executed_at LIMIT ?"
    ),
    (False, True): (
        "SELECT execution_id, executed_at, action, entry_exit, quantity, price, commission, "
        "instrument, commission_currency "
        "FROM trades WHERE account = ? AND contract = ? AND executed_at < ? "
        "ORDER BY executed_at LIMIT ?"
    ),
    (True, True): (
        "SELECT execution_id, executed_at, action, entry_exit, quantity, price, commission, "
        "instrument, commission_currency "
        "FROM trades WHERE account = ? AND contract = ? AND executed_at >= ? "
        "AND executed_at < ? ORDER BY executed_at LIMIT ?"
    ),
}


def _pages(
    sql: TripSql, key: Key, start: datetime | None, *, until: datetime | None = None
) -> Iterator[list[Fill]]:
    """The key's fills from ``start`` on (before ``until``) in time order, page by page;
    a page never ends inside a second."""
    if start is not None and until is not None and start >= until:
        return
    account, contract = key
    page = PAGE
    after = start
    while True:
        params: tuple[Any, ...] = (account, contract)
        if after is not None:
            params += (sql.time(after),)
        if until is not None:
            params += (sql.time(until),)
        query = _PAGE_SQL[after is not None, until is not None]
        rows = sql.run(query, (*params, page)).fetchall()
        fills = _fills(sql, rows)
        if len(rows) < page:
            yield fills
            return
        cut = len(fills)  # the last second may go on: read it again with the next page
        while cut and fills[cut - 1].executed_at == fills[-1].executed_at:
            cut -= 1
        if cut == 0:  # one second holds more than a page: read a bigger page
            page *= 2
            continue
        after = fills[-1].executed_at
        yield fills[:cut]


def _fills(sql: TripSql, rows: list[Any]) -> list[Fill]:
    fills: list[Fill] = []
    last: Any = object()
    fromiso = datetime.fromisoformat if sql.sqlite else None
    when: Any = None
    for (
        execution_id,
        executed_at,
        action,
        entry_exit,
        quantity,
        price,
        commission,
        name,
        paid_in,
    ) in rows:
        if side_of(action) is None:
            log.warning("round_trip_fill_skipped", execution_id=execution_id, action=action)
            continue
        if executed_at != last:  # one datetime per second, parsed once
            last = executed_at
            when = fromiso(executed_at) if fromiso else executed_at
        fills.append(
            Fill(
                execution_id,
                when,
                action,
                entry_exit,
                quantity,
                Decimal(price),
                _ZERO if commission is None else Decimal(commission),
                name,
                paid_in,
            )
        )
    return fills
