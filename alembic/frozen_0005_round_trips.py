"""Revision 0005's data step, frozen: the round trips of the trades a journal already holds.

A copy, as of that revision, of what ``round-trips --rebuild`` computed then: FIFO per
(account, instrument) from flat to flat, a fill crossing zero split with its commission
shared pro rata (rounded half-even to 1e-8, the opening part takes the rest), one second's
fills ordered so their Entry/Exit flags hold where they can and then by execution ID,
P&L from the built-in point values (null for an unknown root), money rounded to 8 places
only where it has more, a value of 1e30 or more stored as null.

It imports nothing from the application on purpose: the application may change its rules
later, an old revision must not. Only the standard library and the raw driver connection.
Memory holds one key's page of fills and its unfinished round trips.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

log = logging.getLogger("csv_import_daemon.migrations")

PAGE = 50_000  # trades read per query; a second's fills are never split across pages
FLUSH = 5_000  # round trips written per batch
PLACES = Decimal("1E-8")
ZERO = Decimal(0)
LIMIT = Decimal(10) ** 30  # NUMERIC(38, 8)

SIDES = {"buy": 1, "buytocover": 1, "sell": -1, "sellshort": -1}
# Money per 1.00 of price for one contract, as the built-in table held it at revision 0005.
# fmt: off
POINT_VALUES: dict[str, tuple[str, str]] = {
    "ES": ("50", "USD"), "MES": ("5", "USD"), "NQ": ("20", "USD"), "MNQ": ("2", "USD"),
    "YM": ("5", "USD"), "MYM": ("0.5", "USD"), "RTY": ("50", "USD"), "M2K": ("5", "USD"),
    "EMD": ("100", "USD"), "CL": ("1000", "USD"), "MCL": ("100", "USD"),
    "QM": ("500", "USD"), "NG": ("10000", "USD"), "QG": ("2500", "USD"),
    "GC": ("100", "USD"), "MGC": ("10", "USD"), "SI": ("5000", "USD"),
    "SIL": ("1000", "USD"), "HG": ("25000", "USD"), "MHG": ("2500", "USD"),
    "ZB": ("1000", "USD"), "UB": ("1000", "USD"), "ZN": ("1000", "USD"),
    "ZF": ("1000", "USD"), "ZT": ("2000", "USD"), "6E": ("125000", "USD"),
    "M6E": ("12500", "USD"), "6B": ("62500", "USD"), "6A": ("100000", "USD"),
    "6C": ("100000", "USD"), "6J": ("12500000", "USD"), "6S": ("125000", "USD"),
    "BTC": ("5", "USD"), "MBT": ("0.1", "USD"), "ETH": ("50", "USD"), "MET": ("0.1", "USD"),
    "FDAX": ("25", "EUR"), "FDXM": ("5", "EUR"), "FDXS": ("1", "EUR"), "FESX": ("10", "EUR"),
}
# fmt: on
_COMPACT = re.compile(r"^([A-Z0-9]+?)[FGHJKMNQUVXZ]\d{1,2}$")  # "MNQH5", "ESZ25"

_SELECT = (
    "SELECT execution_id, executed_at, action, entry_exit, quantity, price, commission "
    "FROM trades WHERE account = ? AND instrument = ?{after} ORDER BY executed_at LIMIT ?"
)
_TRIP_INSERT = (
    "INSERT INTO round_trips (id, account, instrument, direction, opened_at, closed_at, "
    "quantity, open_quantity, entry_price, exit_price, points, pnl, commission, net_pnl, "
    "currency) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_PART_INSERT = (
    "INSERT INTO round_trip_fills (round_trip_id, seq, execution_id, quantity, commission, "
    "role) VALUES (?, ?, ?, ?, ?, ?)"
)


def root_of(instrument: str) -> str:
    text = instrument.strip().upper()
    first, _, rest = text.partition(" ")
    if rest:  # "MNQ 03-26", "ES JUN26"
        return first
    compact = _COMPACT.match(text)
    return compact.group(1) if compact else text


def side(action: str) -> int | None:
    return SIDES.get(action.replace(" ", "").lower())


def money(value: Decimal) -> Decimal:
    """Rounded half-even to 8 places if it has more; otherwise exactly as it is."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -8:
        return value.quantize(PLACES, rounding=ROUND_HALF_EVEN)
    return value


class Trip:
    """One round trip: its totals and its parts (execution ID, quantity, commission, role)."""

    def __init__(self, direction: str, opened_at: datetime) -> None:
        self.direction = direction
        self.opened_at = opened_at
        self.closed_at: datetime | None = None
        self.quantity = 0
        self.entry_cost = ZERO
        self.exit_quantity = 0
        self.exit_cost = ZERO
        self.gained = ZERO  # sum over matched lots of (exit - entry) x contracts
        self.parts: list[tuple[str, int, Decimal, str]] = []


class Fifo:
    """One key's fills in time order, one second at a time; completed trips in ``done``."""

    def __init__(self) -> None:
        self.position = 0
        self.lots: deque[list[Any]] = deque()  # [quantity, price], oldest first
        self.trip: Trip | None = None
        self.done: list[Trip] = []

    def second(self, fills: list[tuple[Any, ...]]) -> None:
        """Fills of one second, ordered so their Entry/Exit flags hold, then by ID."""
        left = sorted(fills, key=lambda f: f[0])
        while left:
            pick = next((i for i, f in enumerate(left) if self._fits(f)), 0)
            self.add(left.pop(pick))

    def _fits(self, fill: tuple[Any, ...]) -> bool:
        position, flag, buy = self.position, fill[3], (side(fill[2]) or 0) > 0
        if flag == "Exit":
            return position != 0 and (position > 0) != buy
        if flag == "Entry":
            return position == 0 or (position > 0) == buy
        return True

    def add(self, fill: tuple[Any, ...]) -> None:
        execution_id, when, action, _flag, quantity, price, commission = fill
        sign = side(action) or 0
        position = self.position
        if position and (position > 0) != (sign > 0):  # reduces the position
            trip = self.trip
            assert trip is not None
            closing = min(quantity, abs(position))
            share = commission
            if closing < quantity:  # crosses zero: the parts share the commission
                share = (commission * closing / quantity).quantize(PLACES, ROUND_HALF_EVEN)
            left = closing
            while left:
                lot = self.lots[0]
                used = min(lot[0], left)
                trip.gained += (price - lot[1]) * used
                left -= used
                lot[0] -= used
                if lot[0] == 0:
                    self.lots.popleft()
            trip.exit_quantity += closing
            trip.exit_cost += price * closing
            trip.parts.append((execution_id, closing, share, "exit"))
            self.position = position = position + sign * closing
            if position:
                return
            trip.closed_at = when
            self.done.append(trip)
            self.trip = None
            if closing == quantity:
                return
            quantity -= closing
            commission -= share
        if self.trip is None:
            self.trip = Trip("long" if sign > 0 else "short", when)
        trip = self.trip
        trip.quantity += quantity
        trip.entry_cost += price * quantity
        trip.parts.append((execution_id, quantity, commission, "entry"))
        self.lots.append([quantity, price])
        self.position = position + sign * quantity


class Writer:
    """Rows in the driver's own types: text on SQLite, Decimal and datetime on PostgreSQL."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"

    def run(self, sql: str, params: Any = ()) -> Any:
        return self.conn.exec_driver_sql(sql if self.sqlite else sql.replace("?", "%s"), params)

    def many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            self.conn.exec_driver_sql(sql if self.sqlite else sql.replace("?", "%s"), rows)

    def time(self, value: datetime | None) -> Any:
        if value is None or not self.sqlite:
            return value
        text = value.isoformat(" ")  # SQLAlchemy's SQLite DATETIME text
        return text + ".000000" if len(text) == 19 else text

    def read_time(self, value: Any) -> datetime:
        return datetime.fromisoformat(value) if isinstance(value, str) else value

    def money(self, value: Decimal | None) -> Any:
        if value is None:
            return None
        if abs(value) >= LIMIT:
            log.warning("round_trip_value_overflow", extra={"value": str(value)})
            return None
        return self.part(value)

    def part(self, value: Decimal) -> Any:
        """A part's commission: at most its fill's, so never too wide (no overflow check)."""
        if not self.sqlite:
            return value
        text = str(value)
        return format(value, "f") if "E" in text else text

    def ids(self, count: int) -> list[int]:
        if self.sqlite:
            top = int(self.run("SELECT coalesce(max(id), 0) FROM round_trips").scalar())
            return list(range(top + 1, top + 1 + count))
        rows = self.run(
            "SELECT nextval(pg_get_serial_sequence('round_trips', 'id')) "
            "FROM generate_series(1, CAST(? AS integer))",
            (count,),
        )
        return [int(r[0]) for r in rows]

    def write(self, key: tuple[str, str], trips: list[Trip]) -> None:
        if not trips:
            return
        value = POINT_VALUES.get(root_of(key[1]))
        trip_rows, part_rows = [], []
        for trip_id, trip in zip(self.ids(len(trips)), trips, strict=True):
            points = trip.gained if trip.direction == "long" else ZERO - trip.gained
            commission = sum((p[2] for p in trip.parts), ZERO)
            pnl = None if value is None else money(points * Decimal(value[0]))
            exits = trip.exit_quantity
            trip_rows.append(
                (
                    trip_id, key[0], key[1], trip.direction, self.time(trip.opened_at),
                    self.time(trip.closed_at), trip.quantity, trip.quantity - exits,
                    self.money(money(trip.entry_cost / trip.quantity)),
                    self.money(money(trip.exit_cost / exits) if exits else None),
                    self.money(points), self.money(pnl), self.money(commission),
                    self.money(None if pnl is None else pnl - commission),
                    None if value is None else value[1],
                )
            )  # fmt: skip
            part_rows += [
                (trip_id, seq, p[0], p[1], self.part(p[2]), p[3])
                for seq, p in enumerate(trip.parts)
            ]
        self.many(_TRIP_INSERT, trip_rows)
        self.many(_PART_INSERT, part_rows)


def build_round_trips(conn: Any) -> int:
    """Fill the (empty) round-trip tables from ``trades``; the number of round trips."""
    out = Writer(conn)
    keys = sorted(tuple(r) for r in out.run("SELECT DISTINCT account, instrument FROM trades"))
    written = 0
    warned: set[str] = set()
    for account, instrument in keys:
        root = root_of(instrument)
        if root not in POINT_VALUES and root not in warned:
            warned.add(root)
            log.warning("point_value_unknown", extra={"root": root, "instrument": instrument})
        fifo = Fifo()
        for second in _seconds(out, (account, instrument)):
            fifo.second(second)
            if len(fifo.done) >= FLUSH:
                written += len(fifo.done)
                out.write((account, instrument), fifo.done)
                fifo.done = []
        trips = fifo.done + ([fifo.trip] if fifo.trip is not None else [])
        out.write((account, instrument), trips)
        written += len(trips)
    return written


def _seconds(out: Writer, key: tuple[str, str]) -> Any:
    """The key's fills (known actions only) one second at a time, read page by page."""
    after: datetime | None = None
    page = PAGE
    while True:
        where = "" if after is None else " AND executed_at >= ?"
        params = (*key, *(() if after is None else (out.time(after),)), page)
        rows = out.run(_SELECT.format(after=where), params).fetchall()
        fills = [_fill(out, r) for r in rows]
        seconds: list[list[tuple[Any, ...]]] = []
        for fill in fills:
            if seconds and seconds[-1][0][1] == fill[1]:
                seconds[-1].append(fill)
            else:
                seconds.append([fill])
        if len(rows) == page:  # the last second may go on: read it again with the next page
            if len(seconds) == 1:
                page *= 2
                continue
            after = seconds.pop()[0][1]
        for second in seconds:
            known = [f for f in second if side(f[2]) is not None]
            for f in second:
                if side(f[2]) is None:
                    log.warning("round_trip_fill_skipped", extra={"execution_id": f[0]})
            if known:
                yield known
        if len(rows) < page:
            return


def _fill(out: Writer, row: Any) -> tuple[Any, ...]:
    execution_id, executed_at, action, entry_exit, quantity, price, commission = row
    return (
        execution_id,
        out.read_time(executed_at),
        action,
        entry_exit,
        quantity,
        Decimal(price),
        ZERO if commission is None else Decimal(commission),
    )
