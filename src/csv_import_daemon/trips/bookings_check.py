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

from sqlalchemy import Connection, bindparam, text

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


# Each round trip beside the sums of its bookings; two fixed texts, not one assembled.
_COMPARED = (
    "SELECT r.points, r.commission, "
    "(SELECT count(*) FROM round_trip_fills f WHERE f.round_trip_id = r.id), "
    "b.parts, b.points, b.commission, b.whole FROM round_trips r LEFT JOIN "
    "(SELECT round_trip_id, sum(parts) AS parts, sum(points) AS points, "
    "sum(commission) AS commission, count(points) = count(*) "
    "AND count(commission) = count(*) AS whole FROM round_trip_bookings "
    "GROUP BY round_trip_id) b ON b.round_trip_id = r.id"
)
_COMPARED_KEY = (
    "SELECT r.points, r.commission, "
    "(SELECT count(*) FROM round_trip_fills f WHERE f.round_trip_id = r.id), "
    "b.parts, b.points, b.commission, b.whole FROM round_trips r LEFT JOIN "
    "(SELECT round_trip_id, sum(parts) AS parts, sum(points) AS points, "
    "sum(commission) AS commission, count(points) = count(*) "
    "AND count(commission) = count(*) AS whole FROM round_trip_bookings "
    "GROUP BY round_trip_id) b ON b.round_trip_id = r.id "
    "WHERE r.account = :a AND r.contract = :c"
)
_COMPARED_IDS = text(
    "SELECT r.points, r.commission, "
    "(SELECT count(*) FROM round_trip_fills f WHERE f.round_trip_id = r.id), "
    "b.parts, b.points, b.commission, b.whole FROM round_trips r LEFT JOIN "
    "(SELECT round_trip_id, sum(parts) AS parts, sum(points) AS points, "
    "sum(commission) AS commission, count(points) = count(*) "
    "AND count(commission) = count(*) AS whole FROM round_trip_bookings "
    "WHERE round_trip_id IN :ids GROUP BY round_trip_id) b ON b.round_trip_id = r.id "
    "WHERE r.id IN :ids"
).bindparams(bindparam("ids", expanding=True))


def _differing(conn: Connection, keys: list[tuple[str, str]] | None) -> int:
    """Round trips (of ``keys``; None: all) whose parts, points or commission differ from
    the sums of their bookings."""
    count = 0
    for key in keys if keys is not None else [None]:
        if key is None:
            rows = conn.execute(text(_COMPARED))
        else:
            rows = conn.execute(text(_COMPARED_KEY), {"a": key[0], "c": key[1]})
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
