"""Do the stored bookings (``round_trip_bookings``) add up to their round trips?

``pnl`` and the journal page read the bookings, not the round trips' parts, so a booking
row lost or edited by hand would go unseen there. The quick look (``status``, reports)
compares two counts: every part in a booking row. The thorough one (``verify``) also adds
up points and commission per (account, contract) against the round trips' own; only where
either differs is each round trip of it compared. ``verify FILE`` compares each round trip
around the files' fills instead (``bookings_differ_in``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, func, select, text

from csv_import_daemon.db.tables import ROUND_TRIP_BOOKINGS, ROUND_TRIP_FILLS, ROUND_TRIPS

_UNIT = Decimal("1E-8")
IDS_AT_ONCE = 1000  # round-trip IDs per statement


def bookings_differ(conn: Connection, *, thorough: bool) -> int:
    """How many round trips' bookings do not add up to them (0: all do)."""
    parts = conn.scalar(text("SELECT count(*) FROM round_trip_fills"))
    booked = conn.scalar(text("SELECT coalesce(sum(parts), 0) FROM round_trip_bookings"))
    if int(parts or 0) != int(booked or 0):
        return _differing(conn, None)
    if not thorough:
        return 0
    keys = _keys_apart(conn)
    return _differing(conn, keys) if keys else 0


def bookings_differ_in(conn: Connection, trip_ids: list[int]) -> int:
    """How many of these round trips' bookings do not add up to them (``verify FILE``:
    each compared, a thousand at a time, instead of every (account, contract) summed)."""
    count = 0
    for start in range(0, len(trip_ids), IDS_AT_ONCE):
        chunk = trip_ids[start : start + IDS_AT_ONCE]
        count += _count_differing(conn.execute(_COMPARED_IDS, {"ids": chunk}))
    return count


def _keys_apart(conn: Connection) -> list[tuple[str, str]]:
    """The (account, contract)s whose bookings' points or commission do not add up to
    their round trips' (commission only where every round trip has one sum)."""
    trips: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [Decimal(0), Decimal(0), True])
    rows = conn.execution_options(yield_per=10_000).execute(
        text("SELECT account, contract, points, commission FROM round_trips")
    )
    for account, contract, points, commission in rows:
        total = trips[account, contract]
        total[0] += _decimal(points)
        if commission is None:
            total[2] = False
        else:
            total[1] += _decimal(commission)
    booked = {
        (a, c): (Decimal(int(p or 0)) * _UNIT, Decimal(int(m or 0)) * _UNIT)
        for a, c, p, m in conn.execute(
            text(
                "SELECT account, contract, sum(points), sum(commission) FROM round_trip_bookings "
                "GROUP BY account, contract"
            )
        )
    }
    apart = []
    for key, (points, commission, whole) in trips.items():
        got = booked.get(key, (Decimal(0), Decimal(0)))
        if got[0] != points or (whole and got[1] != commission):
            apart.append(key)
    return sorted(apart)


def _compared(*where: Any, ids: bool = False) -> Select[Any]:
    """Each round trip (those ``where`` selects) beside the sums of its bookings; ``ids``:
    the bookings' sums only for the round trips bound as ``ids``."""
    trips, fills, books = ROUND_TRIPS.c, ROUND_TRIP_FILLS.c, ROUND_TRIP_BOOKINGS.c
    whole = and_(
        func.count(books.points) == func.count(), func.count(books.commission) == func.count()
    )
    sums = select(
        books.round_trip_id,
        func.sum(books.parts).label("parts"),
        func.sum(books.points).label("points"),
        func.sum(books.commission).label("commission"),
        whole.label("whole"),
    ).group_by(books.round_trip_id)
    if ids:
        sums = sums.where(books.round_trip_id.in_(bindparam("ids", expanding=True)))
    b = sums.subquery("b")
    parts = select(func.count()).where(fills.round_trip_id == trips.id).scalar_subquery()
    return (
        select(
            trips.points, trips.commission, parts, b.c.parts, b.c.points, b.c.commission, b.c.whole
        )
        .select_from(ROUND_TRIPS.outerjoin(b, b.c.round_trip_id == trips.id))
        .where(*where)
    )


_COMPARED = _compared()
_COMPARED_KEY = _compared(
    ROUND_TRIPS.c.account == bindparam("a"), ROUND_TRIPS.c.contract == bindparam("c")
)
_COMPARED_IDS = _compared(ROUND_TRIPS.c.id.in_(bindparam("ids", expanding=True)), ids=True)


def _differing(conn: Connection, keys: list[tuple[str, str]] | None) -> int:
    """Round trips (of ``keys``; None: all) whose parts, points or commission differ from
    the sums of their bookings."""
    count = 0
    for key in keys if keys is not None else [None]:
        if key is None:
            rows = conn.execute(_COMPARED)
        else:
            rows = conn.execute(_COMPARED_KEY, {"a": key[0], "c": key[1]})
        count += _count_differing(rows)
    return count


def _count_differing(rows: Iterable[Any]) -> int:
    """Of ``_COMPARED``'s rows, those whose round trip and bookings differ."""
    count = 0
    for points, commission, fills, parts, booked, paid, whole in rows:
        if int(parts or 0) != int(fills):
            count += 1
        elif not whole:  # beyond 64 bits: nothing to add up (pnl replays it)
            continue
        elif Decimal(int(booked)) * _UNIT != _decimal(points) or (
            commission is not None and Decimal(int(paid)) * _UNIT != _decimal(commission)
        ):
            count += 1
    return count


def _decimal(value: Any) -> Decimal:
    return Decimal(0) if value is None else Decimal(str(value))
