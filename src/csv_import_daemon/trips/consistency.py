"""Do the stored round trips still agree with ``trades`` and with the point values in force?

Imports keep round trips current; a trade deleted, added or resized by hand, or a changed
``point_values`` setting, does not. This check is cheap enough for ``status`` and the report
commands (two sums first, the detail only when they differ; one sample round trip per
instrument) and says what a ``round-trips --rebuild`` would fix. It does not see a price
edited by hand: ``pnl`` refuses what it cannot book, and a rebuild recomputes everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, DateTime, bindparam, text

from csv_import_daemon.config.commissions import CommissionSchedule
from csv_import_daemon.config.point_values import PointValues
from csv_import_daemon.trips.bookings_check import (
    IDS_AT_ONCE,
    bookings_differ,
    bookings_differ_in,
)
from csv_import_daemon.trips.fifo import money_of
from csv_import_daemon.trips.schedule import changed_roots

REBUILD_HINT = "run `csv-import-daemon round-trips --rebuild`"

# (account, contract, first, last): the stored fills of one (account, contract) in a file
# given to ``verify``, from the first one's time to the last one's.
Span = tuple[str, str, datetime, datetime]


@dataclass(frozen=True, slots=True)
class Drift:
    """What disagrees: fills gone from trades, trades in no round trip, contracts apart,
    instruments whose stored P&L used other point values than the settings'."""

    fills_without_trade: int = 0
    trades_without_round_trip: int = 0
    quantity_difference: int = 0
    point_values_changed: tuple[str, ...] = field(default_factory=tuple)
    # Roots whose stored fills the commissions setting in force would give another commission.
    commissions_changed: tuple[str, ...] = field(default_factory=tuple)
    bookings_differ: int = 0  # round trips whose stored bookings do not add up to them

    @property
    def stale(self) -> bool:
        return bool(
            self.fills_without_trade
            or self.trades_without_round_trip
            or self.quantity_difference
            or self.point_values_changed
            or self.commissions_changed
            or self.bookings_differ
        )

    def describe(self) -> str:
        """One line for a person, with the fix."""
        said = []
        if self.fills_without_trade:
            said.append(f"{self.fills_without_trade} round-trip fills no longer in trades")
        if self.trades_without_round_trip:
            said.append(f"{self.trades_without_round_trip} trades in no round trip")
        if self.quantity_difference:
            said.append(f"{self.quantity_difference} contracts differ from trades")
        if self.bookings_differ:
            said.append(f"{self.bookings_differ} round trips whose bookings differ from them")
        if self.point_values_changed:
            names = ", ".join(self.point_values_changed)
            said.append(f"P&L computed with other point values ({names})")
        if self.commissions_changed:
            names = ", ".join(self.commissions_changed)
            said.append(f"fills' commissions from another commissions setting ({names})")
        return "round trips disagree with trades: " + "; ".join(said) + f"; {REBUILD_HINT}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "stale": self.stale,
            "fills_without_trade": self.fills_without_trade,
            "trades_without_round_trip": self.trades_without_round_trip,
            "quantity_difference": self.quantity_difference,
            "point_values_changed": list(self.point_values_changed),
            "commissions_changed": list(self.commissions_changed),
            "bookings_differ": self.bookings_differ,
        }


def check_round_trips(
    conn: Connection,
    values: PointValues | None = None,
    *,
    thorough: bool = False,
    schedule: CommissionSchedule | None = None,
    spans: Sequence[Span] | None = None,
) -> Drift:
    """Compare the round-trip tables with ``trades`` (and the point values, if given).

    By default the first look is two sums (the quantity of every trade, of every round-trip
    part: 0.2 s for a million fills); only when they differ is the detail worked out (an
    anti-join and a distinct count: 6 s for a million). That first look misses hand edits
    that cancel out exactly (a trade deleted and another of the same quantity added);
    ``thorough`` (``verify``) always works out the detail. With ``spans`` (``verify FILE``)
    the thorough detail covers only the trades within them and the round trips that
    overlap them (milliseconds for a day's file); the rest of the journal gets the first
    look, so a stale round trip elsewhere is still found unless its edits cancel out.
    """
    trades = conn.execute(text("SELECT count(*), coalesce(sum(quantity), 0) FROM trades")).one()
    changed = _point_values_changed(conn, values) if values is not None else ()
    fees = changed_roots(conn, schedule) if schedule is not None else ()
    whole = thorough and spans is None
    differ = bookings_differ(conn, thorough=whole)
    trip_ids = _trips_in(conn, spans) if thorough and spans is not None else []
    if not differ and trip_ids:  # the first look found nothing: the spans' own round trips
        differ = bookings_differ_in(conn, trip_ids)
    if not whole:
        parts_quantity = conn.scalar(
            text("SELECT coalesce(sum(quantity), 0) FROM round_trip_fills")
        )
        if int(parts_quantity or 0) == int(trades[1]):
            fills, without, apart = _detail_in(conn, spans, trip_ids) if spans else (0, 0, 0)
            return Drift(
                fills_without_trade=fills,
                trades_without_round_trip=without,
                quantity_difference=apart,
                point_values_changed=changed,
                commissions_changed=fees,
                bookings_differ=differ,
            )
    missing = conn.execute(
        text(
            "SELECT count(*), coalesce(sum(f.quantity), 0) FROM round_trip_fills f "
            "WHERE NOT EXISTS (SELECT 1 FROM trades t WHERE t.execution_id = f.execution_id)"
        )
    ).one()
    parts = conn.execute(
        text(
            "SELECT count(DISTINCT execution_id), coalesce(sum(quantity), 0) FROM round_trip_fills"
        )
    ).one()
    present_fills = int(parts[0]) - int(missing[0])
    present_quantity = int(parts[1]) - int(missing[1])
    return Drift(
        fills_without_trade=int(missing[0]),
        trades_without_round_trip=max(int(trades[0]) - present_fills, 0),
        quantity_difference=abs(int(trades[1]) - present_quantity),
        point_values_changed=changed,
        commissions_changed=fees,
        bookings_differ=differ,
    )


_TIMES = (bindparam("lo", type_=DateTime()), bindparam("hi", type_=DateTime()))
# The round trips of an (account, contract) that overlap [lo, hi]: those that close or open
# within it, and the one open at lo (one at a time per key: a round trip runs from flat to
# flat). Three ranges of the two indexes, never a scan of the key's earlier round trips.
_TRIPS_IN_SPAN = text(
    "SELECT id FROM round_trips WHERE account = :a AND contract = :c "
    "AND closed_at BETWEEN :lo AND :hi "
    "UNION SELECT id FROM round_trips WHERE account = :a AND contract = :c "
    "AND opened_at BETWEEN :lo AND :hi "
    "UNION SELECT id FROM round_trips WHERE account = :a AND contract = :c "
    "AND (closed_at IS NULL OR closed_at >= :lo) AND opened_at = (SELECT max(opened_at) "
    "FROM round_trips WHERE account = :a AND contract = :c AND opened_at < :lo)"
).bindparams(*_TIMES)
_TRADES_IN_SPAN = text(
    "SELECT execution_id, quantity FROM trades WHERE account = :a AND contract = :c "
    "AND executed_at BETWEEN :lo AND :hi"
).bindparams(*_TIMES)
# Each part of these round trips, with its trade's ID (null: no longer in trades).
_PARTS_OF = text(
    "SELECT f.execution_id, f.quantity, t.execution_id FROM round_trip_fills f "
    "LEFT JOIN trades t ON t.execution_id = f.execution_id WHERE f.round_trip_id IN :ids"
).bindparams(bindparam("ids", expanding=True))


def _trips_in(conn: Connection, spans: Sequence[Span]) -> list[int]:
    """The round trips that overlap the spans, by ID."""
    ids: set[int] = set()
    for account, contract, lo, hi in spans:
        params = {"a": account, "c": contract, "lo": lo, "hi": hi}
        ids.update(int(i) for i in conn.scalars(_TRIPS_IN_SPAN, params))
    return sorted(ids)


def _detail_in(
    conn: Connection, spans: Sequence[Span], trip_ids: list[int]
) -> tuple[int, int, int]:
    """The thorough detail within the spans: round-trip parts (of the round trips that
    overlap them) whose trade is gone; trades in them in no round trip; and their
    contracts apart. Every part of a trade within a span belongs to a round trip that
    overlaps it, so each such trade is compared with all its parts."""
    trades: dict[str, int] = {}
    for account, contract, lo, hi in spans:
        params = {"a": account, "c": contract, "lo": lo, "hi": hi}
        trades.update((str(e), int(q)) for e, q in conn.execute(_TRADES_IN_SPAN, params))
    gone = 0
    parts: dict[str, int] = {}
    for start in range(0, len(trip_ids), IDS_AT_ONCE):
        chunk = trip_ids[start : start + IDS_AT_ONCE]
        for execution_id, quantity, trade in conn.execute(_PARTS_OF, {"ids": chunk}):
            if trade is None:
                gone += 1
            else:
                parts[str(execution_id)] = parts.get(str(execution_id), 0) + int(quantity)
    without = sum(1 for e in trades if e not in parts)
    apart = abs(sum(trades.values()) - sum(parts.get(e, 0) for e in trades))
    return gone, without, apart


def _point_values_changed(conn: Connection, values: PointValues) -> tuple[str, ...]:
    """Instruments whose stored currency or P&L differs from points x today's value."""
    changed = []
    rows = conn.execute(text("SELECT DISTINCT instrument, currency FROM round_trips")).all()
    for instrument, currency in sorted(rows, key=lambda r: (str(r[0]), str(r[1]))):
        value = values.lookup(instrument)
        if (value.currency if value else None) != currency:
            changed.append(instrument)
            continue
        if value is None:
            continue
        samples = conn.execute(
            text(
                "SELECT points, pnl FROM round_trips WHERE instrument = :i AND pnl IS NOT NULL "
                "LIMIT 50"
            ),
            {"i": instrument},
        ).all()
        for points_text, pnl_text in samples:
            points, pnl = Decimal(str(points_text)), Decimal(str(pnl_text))
            if points:  # a round trip of zero points says nothing about the value
                if money_of(points * value.value) != pnl:
                    changed.append(instrument)
                break
    return tuple(dict.fromkeys(changed))
