"""Realized P&L from the stored bookings: sums in SQL, trading days and money in Python.

``round_trip_bookings`` holds what each round trip realized per UTC hour of its fills and
commission currency, as exact integers of 1e-8. ``pnl`` adds them up per (account,
contract, instrument, commission currency, UTC hour) in SQL, in the table's own order (no
sort on SQLite), then maps each hour to its trading day and applies today's point values:

- An hour's trading day is exact when the day is the same at its first and last minute and
  the zone's offset does not change within it (the day is decided per minute: the rollover
  is a whole minute, offsets are whole minutes). With the default rollover (17:00 Chicago,
  a whole UTC hour) every hour is so; otherwise the round trips with fills in an hour the
  rollover cuts are replayed as ``booking`` does.
- A part's P&L is ``money_of(points x value)``; summing points first is exact while no part
  has more decimal places than the value leaves room for below 1e-8 (``places``); the round
  trips of a group where that fails are replayed.
- A round trip counts once per group: one with a single booking row counts in its row's
  group, one with several is worked out from its rows.

What cannot be so (an amount beyond 64 bits, an unusual rollover near a DST change) falls
back to the reference, ``booking.book`` over the stored parts: the result is the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from csv_import_daemon.config.point_values import PointValue, PointValues
from csv_import_daemon.config.trading_day import Rollover
from csv_import_daemon.trips.booking import Booking, Statement
from csv_import_daemon.trips.booking_rows import INEXACT

_EPOCH = datetime(1970, 1, 1)
_HOUR = timedelta(hours=1)
_MINUTE = timedelta(minutes=1)
MARGIN = 48  # hours read beyond a --since/--until day's bounds, then filtered exactly
_CHUNK = 500
Row = tuple[Any, ...]  # account, contract, instrument, currency, hour, points, commission, ...


class Unreliable(Exception):
    """The stored bookings cannot give the exact answer here: use the reference."""


class Days:
    """The trading day of a UTC hour (hours since 1970), None when the rollover cuts it."""

    def __init__(self, rollover: Rollover) -> None:
        self.rollover = rollover
        self.known: dict[int, date | None] = {}

    def __call__(self, hour: int) -> date | None:
        known = self.known
        if hour in known:
            return known[hour]
        start = _EPOCH + hour * _HOUR
        last = start + _HOUR - _MINUTE
        first = self.rollover.day_of(start)
        zone = self.rollover.zone
        uniform = first == self.rollover.day_of(last) and zone.utcoffset(start) == zone.utcoffset(
            last
        )
        day = known[hour] = first if uniform else None
        return day

    def check_order(self, extra: Iterable[int]) -> None:
        """Trading days never go back as hours go on (else a range cannot be read by day)."""
        latest: date | None = None
        for hour in sorted({*self.known, *extra}):
            start = _EPOCH + hour * _HOUR
            for moment in (start, start + _HOUR - _MINUTE):
                day = self.rollover.day_of(moment)
                if latest is not None and day < latest:
                    raise Unreliable
                latest = day


def hour_of(moment: datetime) -> int:
    return (moment.toordinal() - _EPOCH.toordinal()) * 24 + moment.hour


def booking_where(
    accounts: list[str] | None,
    contracts: list[str] | None,
    days: tuple[date | None, date | None],
    rollover: Rollover,
) -> tuple[str, dict[str, Any]]:
    """The booking rows of these accounts and contracts (None: any) and of the hours around
    a --since/--until range (``MARGIN`` beyond it; the days are filtered exactly later)."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    for column, wanted in (("account", accounts), ("contract", contracts)):
        if wanted is not None:
            names = {f"{column[0]}{n}": v for n, v in enumerate(wanted)}
            clauses.append(f"{column} IN ({', '.join(':' + k for k in names) or 'NULL'})")
            params.update(names)
    since, until = days
    if since is not None:
        clauses.append("utc_hour >= :lo")
        params["lo"] = hour_of(rollover.start_of(since)) - MARGIN
    if until is not None:
        clauses.append("utc_hour <= :hi")
        params["hi"] = hour_of(rollover.start_of(until + timedelta(days=1))) + MARGIN
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def booked_groups(
    conn: Connection,
    statement: Statement,
    rollover: Rollover,
    values: PointValues,
    where: tuple[str, dict[str, Any]],
    replay: Callable[[Sequence[int]], Iterator[Booking]],
) -> list[dict[str, Any]]:
    """``pnl``'s groups from the stored bookings; ``where`` selects booking rows (account,
    contract, hour range), ``replay`` books given round trips the reference way.

    Raises ``Unreliable`` where only the reference can answer.
    """
    days = Days(rollover)
    lookup = _cached(values)
    room = _cached_room(lookup)
    clause, params = where
    units: dict[tuple[Any, ...], list[Any]] = {}
    cut: list[tuple[Any, ...]] = []  # groups whose round trips are replayed
    query = text(
        "SELECT account, contract, instrument, commission_currency, utc_hour, sum(points), "  # noqa: S608 - the clause is fixed text, values bound
        f"sum(commission), count(*), sum(charged), max(places) FROM round_trip_bookings {clause} "
        "GROUP BY account, contract, instrument, commission_currency, utc_hour"
    )
    for found in conn.execution_options(yield_per=10_000).execute(query, params):
        row = tuple(found)
        key = row[:5]
        if days(row[4]) is None or not room(row[2], row[9]):
            cut.append(key)
        else:
            units[key] = [int(row[5]), int(row[6]), int(row[7]), int(row[8])]
    _check_range(days, statement, rollover)
    replayed = _trips_of(conn, cut)
    several = _several(conn)
    rows = _rows_of(conn, sorted(replayed | several), clause, params)
    by_trip: dict[int, list[Row]] = {}
    for one in rows:
        by_trip.setdefault(one[5], []).append(one)
    for trip_id, trip_rows in by_trip.items():
        for row in trip_rows:
            unit = units.get(tuple(row[:5]))
            if unit is not None:  # taken back out: this round trip is worked out below
                unit[0] -= int(row[6])
                unit[1] -= int(row[7])
                unit[2] -= 1
                unit[3] -= int(row[8])
        if trip_id not in replayed and not _from_rows(statement, days, lookup, trip_rows):
            replayed.add(trip_id)
    for (account, contract, instrument, paid_in, hour), totals in units.items():
        points, commission, n, charged = totals
        day = days(hour)
        assert day is not None
        if n and statement.wanted(day):
            statement.add(
                statement.label(account, instrument, day, contract),
                lookup(instrument),
                paid_in,
                (Decimal(points).scaleb(-8), Decimal(commission).scaleb(-8)),
                n,
                charged,
            )
    ids = sorted(replayed)
    for i in range(0, len(ids), _CHUNK):
        statement.add_bookings(replay(ids[i : i + _CHUNK]))
    return statement.result()


def _cached(values: PointValues) -> Callable[[str], PointValue | None]:
    known: dict[str, PointValue | None] = {}

    def lookup(instrument: str) -> PointValue | None:
        if instrument not in known:
            known[instrument] = values.lookup(instrument)
        return known[instrument]

    return lookup


def _cached_room(lookup: Callable[[str], PointValue | None]) -> Callable[[str, int], bool]:
    known: dict[tuple[str, int], bool] = {}

    def room(instrument: str, places: int) -> bool:
        key = (instrument, places)
        if key not in known:
            known[key] = _room(lookup(instrument), places)
        return known[key]

    return room


def _room(value: PointValue | None, places: Any) -> bool:
    """Is every part's points x value exact at 1e-8 (no rounding per part)?"""
    if int(places) >= INEXACT:
        return False
    if value is None:
        return True
    exponent = value.value.normalize().as_tuple().exponent
    scale = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return int(places) + scale <= 8


def _check_range(days: Days, statement: Statement, rollover: Rollover) -> None:
    """A --since/--until selects whole round trips by time (``trip_where``) and bookings
    by day: both agree where the days at the range's bounds are where they should be."""
    bounds = []
    if statement.since is not None:
        bounds.append((rollover.start_of(statement.since), statement.since))
    if statement.until is not None:
        after = statement.until + timedelta(days=1)
        bounds.append((rollover.start_of(after), after))
    for start, day in bounds:
        if not rollover.day_of(start - _MINUTE) < day <= rollover.day_of(start):
            raise Unreliable
    if bounds:
        days.check_order(
            h for start, _ in bounds for h in (hour_of(start - _MINUTE), hour_of(start))
        )


def _trips_of(conn: Connection, keys: list[tuple[Any, ...]]) -> set[int]:
    """The round trips with a booking in these groups."""
    out: set[int] = set()
    query = text(
        "SELECT DISTINCT round_trip_id FROM round_trip_bookings WHERE account = :a "
        "AND contract = :c AND instrument = :i AND commission_currency = :p AND utc_hour = :h"
    )
    for a, c, i, p, h in keys:
        out.update(int(r[0]) for r in conn.execute(query, {"a": a, "c": c, "i": i, "p": p, "h": h}))
    return out


def _several(conn: Connection) -> set[int]:
    """The round trips with more than one booking row (hours, currencies or appends)."""
    query = text(
        "SELECT round_trip_id FROM round_trip_bookings GROUP BY round_trip_id HAVING count(*) > 1"
    )
    return {int(r[0]) for r in conn.execute(query)}


def _rows_of(
    conn: Connection, ids: list[int], clause: str, params: dict[str, Any]
) -> Iterator[Row]:
    """These round trips' booking rows that ``clause`` selects."""
    joiner = "AND" if clause else "WHERE"
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        names = {f"t{n}": v for n, v in enumerate(chunk)}
        marks = ", ".join(f":{n}" for n in names)
        query = text(
            "SELECT account, contract, instrument, commission_currency, utc_hour, "  # noqa: S608 - fixed text, values bound
            "round_trip_id, points, commission, charged, places FROM round_trip_bookings "
            f"{clause} {joiner} round_trip_id IN ({marks})"
        )
        yield from (tuple(r) for r in conn.execute(query, {**params, **names}))


def _from_rows(
    statement: Statement,
    days: Days,
    lookup: Callable[[str], PointValue | None],
    rows: list[Row],
) -> bool:
    """Book one round trip from its rows, counted once per group; False where it cannot
    be (it is replayed instead)."""
    units: dict[tuple[str, str], list[Any]] = {}
    for (
        account,
        contract,
        instrument,
        paid_in,
        hour,
        _,
        points,
        commission,
        charged,
        places,
    ) in rows:
        day = days(hour)
        value = lookup(instrument)
        if day is None or not _room(value, places):
            return False
        if not statement.wanted(day):
            continue
        name = statement.label(account, instrument, day, contract)
        unit = units.setdefault((name, paid_in), [instrument, 0, 0, 0])
        unit[1] += int(points)
        unit[2] += int(commission)
        unit[3] = max(unit[3], int(charged))
    counted: set[tuple[str, str | None]] = set()
    for (name, paid_in), (instrument, points, commission, charged) in units.items():
        value = lookup(instrument)
        currency = None if value is None else value.currency
        # One round trip: once in its P&L's group, once in its commission's if charged there.
        first = (name, currency) not in counted
        counted.add((name, currency))
        other = currency is not None and (paid_in or currency) != currency
        if other and charged:
            first_other = (name, paid_in) not in counted
            counted.add((name, paid_in))
        statement.add(
            name,
            value,
            paid_in,
            (Decimal(points).scaleb(-8), Decimal(commission).scaleb(-8)),
            int(first),
            int(first_other) if other and charged else 0,
        )
    return True
