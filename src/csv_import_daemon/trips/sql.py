"""Round trips' SQL for both dialects: raw driver statements, rows written many at a time.

Rows go in as multi-row ``INSERT ... VALUES (...), (...)`` of at most 999 parameters (the
oldest SQLite's limit) through the driver's own cursor, from flat parameter lists built in
C (``zip`` and ``chain``): half the cost of ``executemany``, which binds and steps one row
at a time; the round trips of a cold import spent most of their time there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from itertools import chain, repeat
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection

from csv_import_daemon.config.point_values import PointValue
from csv_import_daemon.db.tables import sqlite_time  # not db.writer's: 30 ms of imports
from csv_import_daemon.logs import get_logger
from csv_import_daemon.trips.booking_rows import BOOKING_COLUMNS, booking_rows
from csv_import_daemon.trips.fifo import Trip, commission_currency

log = get_logger(__name__)

Key = tuple[str, str]  # (account, contract)
PARAMETERS = 999  # per statement
_LIMIT = Decimal(10) ** 30  # NUMERIC(38, 8)
TRIP_COLUMNS = (
    "id",
    "account",
    "instrument",
    "direction",
    "opened_at",
    "closed_at",
    "quantity",
    "open_quantity",
    "entry_price",
    "exit_price",
    "points",
    "pnl",
    "commission",
    "net_pnl",
    "currency",
    "contract",
    "commission_currency",
)
_PART_COLUMNS = ("round_trip_id", "seq", "execution_id", "quantity", "commission", "role")
_COMMISSION = _PART_COLUMNS.index("commission")
_COPY = {
    "round_trips": (
        "COPY round_trips (id, account, instrument, direction, opened_at, closed_at, quantity,"
        " open_quantity, entry_price, exit_price, points, pnl, commission, net_pnl, currency,"
        " contract, commission_currency)"
        " FROM STDIN"
    ),
    "round_trip_fills": (
        "COPY round_trip_fills (round_trip_id, seq, execution_id, quantity, commission, role)"
        " FROM STDIN"
    ),
    "round_trip_state": "COPY round_trip_state (round_trip_id, state) FROM STDIN",
    "round_trip_bookings": (
        "COPY round_trip_bookings (account, contract, instrument, commission_currency,"
        " utc_hour, round_trip_id, seq, points, commission, charged, places, parts) FROM STDIN"
    ),
}
# Values held before they are sent (``TripSql.held``): a few MB at most.
HELD_VALUES = 100_000
_IDS, _QUANTITIES = attrgetter("ids"), attrgetter("quantities")
_COMMISSIONS, _ROLES = attrgetter("commissions"), attrgetter("roles")


class TripSql:
    """Raw driver SQL: qmark on SQLite, format on psycopg; values in each one's types."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"
        # table -> (row width, flat values) while ``held`` holds PostgreSQL's rows
        self._held: dict[str, tuple[int, list[Any]]] | None = None
        self._held_values = 0

    @contextmanager
    def held(self) -> Iterator[None]:
        """On PostgreSQL, the rows ``insert`` gets inside are sent at its end (or every
        ``HELD_VALUES`` values), one ``COPY`` per table: a refresh wrote two or three per
        (account, contract), each waiting on the server. Round trips go first, then their
        parts and states, which refer to them. Nothing inside may read the rows it holds."""
        if self.sqlite or self._held is not None:
            yield
            return
        self._held = {}
        try:
            yield
            self._send_held()
        finally:
            self._held = None

    def run(self, sql: str, params: Any = ()) -> Any:
        return self.conn.exec_driver_sql(sql if self.sqlite else sql.replace("?", "%s"), params)

    def time(self, value: datetime | None) -> Any:
        return sqlite_time(value) if self.sqlite and value is not None else value

    def money(self, value: Decimal | None) -> Any:
        if value is None:
            return None
        if self.sqlite:
            text = str(value)  # a value of 1E30 or more has 31 digits or an exponent
            if (len(text) > 30 or "E" in text) and abs(value) >= _LIMIT:
                return _overflow(value)
            return format(value, "f") if "E" in text else text
        return _overflow(value) if abs(value) >= _LIMIT else value

    def read_time(self, value: Any) -> datetime:
        if isinstance(value, str):
            return datetime.fromisoformat(value)
        result: datetime = value
        return result

    def insert(self, table: str, columns: tuple[str, ...], flat: list[Any]) -> None:
        """Insert rows given as one flat list of values, column after column."""
        width = len(columns)
        if not self.sqlite:
            if self._held is None:
                self._copy(table, width, flat)
                return
            self._held.setdefault(table, (width, []))[1].extend(flat)
            self._held_values += len(flat)
            if self._held_values >= HELD_VALUES:
                self._send_held()
            return
        mark = "?" if self.sqlite else "%s"
        row = "(" + ", ".join([mark] * width) + ")"
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "  # noqa: S608 - fixed names
        step = PARAMETERS // width * width
        cursor = self.conn.connection.cursor()  # this transaction's own connection
        try:
            full = head + ", ".join([row] * (step // width))
            whole = len(flat) - len(flat) % step
            for start in range(0, whole, step):
                cursor.execute(full, flat[start : start + step])
            if whole < len(flat):
                cursor.execute(
                    head + ", ".join([row] * ((len(flat) - whole) // width)), flat[whole:]
                )
        finally:
            cursor.close()

    def _copy(self, table: str, width: int, flat: list[Any]) -> None:
        # PostgreSQL: COPY. psycopg parses every new multi-row statement's text (2 s of a
        # 100,000-fill import); COPY sends the rows as data, typed by psycopg.
        cursor = self.conn.connection.cursor()
        try:
            with cursor.copy(_COPY[table]) as copy:
                for start in range(0, len(flat), width):
                    copy.write_row(flat[start : start + width])
        finally:
            cursor.close()

    def _send_held(self) -> None:
        assert self._held is not None
        for table in _COPY:  # round trips before the rows that refer to them
            if table in self._held:
                width, flat = self._held.pop(table)
                if flat:
                    self._copy(table, width, flat)
        self._held_values = 0

    def key_rows(self, rows: list[tuple[Any, ...]], types: tuple[str, ...]) -> tuple[str, Any]:
        """A query of ``rows`` (each an account, a contract and values of PostgreSQL
        ``types``) as ``k(a, c, v..., n)``, ``n`` their order, and its parameters: one
        statement for many keys instead of one each (each waits on a server)."""
        names = ("a", "c", *(f"v{i}" for i in range(len(types) - 2)))
        if self.sqlite:
            picks = ", ".join(f"json_extract(value, '$[{i}]') AS {n}" for i, n in enumerate(names))
            return f"SELECT {picks}, key AS n FROM json_each(?)", (  # noqa: S608 - no values
                json.dumps(rows, ensure_ascii=False),
            )
        arrays = ", ".join(f"CAST(? AS {t}[])" for t in types)
        query = f"SELECT * FROM unnest({arrays}) WITH ORDINALITY AS k({', '.join(names)}, n)"  # noqa: S608
        return query, tuple(list(column) for column in zip(*rows, strict=True))


def commission_columns(
    currencies: set[str | None], currency: str | None, pnl: Decimal | None, commission: Decimal
) -> tuple[Decimal | None, Decimal | None, str | None]:
    """A round trip's ``commission``, ``net_pnl`` and ``commission_currency``: a commission
    in another currency than the P&L's is kept in its own and never subtracted (``net_pnl``
    null); one in several currencies has no one sum (all three null)."""
    paid_in = commission_currency(currencies, currency)
    if paid_in is False:
        return None, None, None
    assert not isinstance(paid_in, bool)
    net = None if pnl is None or paid_in != currency else pnl - commission
    return commission, net, paid_in


def _overflow(value: Decimal) -> None:
    log.warning("round_trip_value_overflow", value=str(value))  # null, never a failed import


def write_trips(
    sql: TripSql,
    key: Key,
    trips: list[Trip],
    value: PointValue | None,
    lots: Iterable[list[Any]] | None = None,
) -> int:
    """Insert the round trips and their parts; the number of round trips. ``lots``: the
    open lots of the last round trip when it is still open (its state row is written)."""
    if not trips:
        return 0
    ids = new_ids(sql, len(trips))
    currency = value.currency if value else None
    money = sql.money
    time = sqlite_time if sql.sqlite else _same
    account, contract = key
    trip_rows: list[Any] = []
    for trip_id, trip in zip(ids, trips, strict=True):
        pnl = trip.pnl(value)
        commission, net, paid_in = commission_columns(
            trip.currencies, currency, pnl, trip.commission
        )
        closed = trip.closed_at
        trip_rows += (
            trip_id,
            account,
            trip.instrument,
            trip.direction,
            time(trip.opened_at),
            None if closed is None else time(closed),
            trip.quantity,
            trip.open_quantity,
            money(trip.entry_price),
            money(trip.exit_price),
            money(trip.points),
            money(pnl),
            money(commission),
            money(net),
            currency,
            contract,
            paid_in,
        )
    # The parts of every round trip, column by column, then interleaved: all in C.
    counts = [len(trip.ids) for trip in trips]
    parts: list[Any] = list(
        chain.from_iterable(
            zip(
                chain.from_iterable(map(repeat, ids, counts)),
                chain.from_iterable(map(range, counts)),
                chain.from_iterable(map(_IDS, trips)),
                chain.from_iterable(map(_QUANTITIES, trips)),
                chain.from_iterable(map(_COMMISSIONS, trips)),
                chain.from_iterable(map(_ROLES, trips)),
                strict=True,
            )
        )
    )
    if sql.sqlite:
        # A part's commission is at most its fill's, which trades holds: no overflow check.
        # str() in C; only exponent notation needs the slow path.
        texts = list(map(str, parts[_COMMISSION :: len(_PART_COLUMNS)]))
        if "E" in "".join(texts):
            texts = [format(Decimal(t), "f") if "E" in t else t for t in texts]
        parts[_COMMISSION :: len(_PART_COLUMNS)] = texts
    sql.insert("round_trips", TRIP_COLUMNS, trip_rows)
    sql.insert("round_trip_fills", _PART_COLUMNS, parts)
    bookings: list[Any] = []
    for trip_id, trip in zip(ids, trips, strict=True):
        bookings += booking_rows(trip_id, key, trip, 0)
    sql.insert("round_trip_bookings", BOOKING_COLUMNS, bookings)
    last = trips[-1]
    if lots is not None and last.closed_at is None:
        write_state(sql, ids[-1], last, lots, parts=len(last.ids), commission=last.commission)
    return len(trips)


def open_state(trip: Trip, lots: Iterable[list[Any]], *, parts: int, commission: Decimal) -> str:
    """An open round trip's FIFO state as JSON text: exact sums (decimal text keeps its
    scale, so a continued round trip equals a recomputed one), open lots oldest first, how
    many parts it has and their commission so far."""
    return json.dumps(
        {
            "lots": [[int(q), str(p)] for q, p in lots],
            "entry_cost": str(trip.entry_cost),
            "exit_cost": str(trip.exit_cost),
            "gained": str(trip.gained),
            "quantity": trip.quantity,
            "exit_quantity": trip.exit_quantity,
            "parts": parts,
            "commission": str(commission),
            "currencies": sorted(trip.currencies, key=lambda c: c or ""),
        },
        separators=(",", ":"),
    )


def write_state(
    sql: TripSql,
    trip_id: int,
    trip: Trip,
    lots: Iterable[list[Any]],
    *,
    parts: int,
    commission: Decimal,
) -> None:
    sql.insert(
        "round_trip_state",
        ("round_trip_id", "state"),
        [trip_id, open_state(trip, lots, parts=parts, commission=commission)],
    )


def _same(value: datetime) -> datetime:
    return value


def new_ids(sql: TripSql, count: int) -> list[int]:
    if sql.sqlite:  # the write transaction holds SQLite's only write lock
        top = sql.run("SELECT coalesce(max(id), 0) FROM round_trips").scalar()
        return list(range(int(top) + 1, int(top) + 1 + count))
    rows = sql.run(
        "SELECT nextval(pg_get_serial_sequence('round_trips', 'id')) "
        "FROM generate_series(1, CAST(? AS integer))",
        (count,),
    )
    return [int(r[0]) for r in rows]
