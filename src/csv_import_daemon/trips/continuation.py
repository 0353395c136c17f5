"""Continue an open round trip from its stored FIFO state, without reading its fills.

The common import appends fills later than every stored fill of an (account, contract).
When its round trip is open and ``round_trip_state`` holds its state (open lots, exact
sums, parts so far), the builder is restored from that one row, the new fills are fed, the
round trip's row is updated and only the new parts are inserted. A file costs its own fills
whatever the open round trip's length (a position that never returns to flat). The result
equals a recomputation: the state keeps the sums exactly, decimal text with its scale.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from csv_import_daemon.config.point_values import PointValue
from csv_import_daemon.trips.booking_rows import BOOKING_COLUMNS, booking_rows
from csv_import_daemon.trips.fifo import FillLike, Trip, TripBuilder, money_of
from csv_import_daemon.trips.sql import (
    Key,
    TripSql,
    commission_columns,
    open_state,
    write_trips,
)

_OPEN = (
    "SELECT k.a, k.c, r.id, r.direction, r.opened_at, r.instrument, s.state FROM ({keys}) AS k "
    "JOIN round_trips r ON r.account = k.a AND r.contract = k.c "
    "JOIN round_trip_state s ON s.round_trip_id = r.id WHERE r.closed_at IS NULL"
)
_UPDATE = (
    "UPDATE round_trips SET closed_at = ?, quantity = ?, open_quantity = ?, entry_price = ?, "
    "exit_price = ?, points = ?, pnl = ?, commission = ?, net_pnl = ?, commission_currency = ? "
    "WHERE id = ?"
)


def open_states(sql: TripSql, keys: Sequence[Key]) -> dict[Key, Any]:
    """The open round trip and its stored state of each of ``keys`` that has one: one
    statement for them all."""
    if not keys:
        return {}
    rows, params = sql.key_rows(list(keys), ("text", "text"))
    found: dict[Key, Any] = {}
    for row in sql.run(_OPEN.format(keys=rows), params):
        found.setdefault((row[0], row[1]), tuple(row[2:]))
    return found


def continue_open(
    sql: TripSql, key: Key, fresh: Sequence[FillLike], value: PointValue | None, row: Any
) -> int | None:
    """Feed ``fresh`` (all later than every stored fill) to the key's open round trip,
    ``row`` (from ``open_states``); the round trips written, or None when there is no
    stored state to continue from."""
    if row is None:
        return None
    trip_id, direction, opened_at, instrument, text = row
    state: dict[str, Any] = json.loads(text)
    trip = Trip(direction, sql.read_time(opened_at), instrument)
    trip.quantity = int(state["quantity"])
    trip.exit_quantity = int(state["exit_quantity"])
    trip.entry_cost = Decimal(state["entry_cost"])
    trip.exit_cost = Decimal(state["exit_cost"])
    trip.gained = Decimal(state["gained"])
    trip.currencies = set(state.get("currencies", ()))  # none before revision 0014
    builder = TripBuilder()
    builder.trip = trip
    builder.lots = deque([int(q), Decimal(p)] for q, p in state["lots"])
    sign = 1 if direction == "long" else -1
    builder.position = sign * trip.open_quantity
    builder.feed(fresh)
    parts = int(state["parts"])
    commission = Decimal(state["commission"]) + trip.commission
    _update(sql, trip_id, trip, value, commission)
    _insert_parts(sql, key, trip_id, trip, parts)
    sql.run("DELETE FROM round_trip_state WHERE round_trip_id = ?", (trip_id,))
    if builder.trip is trip:  # still open: its new state
        sql.run(
            "INSERT INTO round_trip_state (round_trip_id, state) VALUES (?, ?)",
            (
                trip_id,
                open_state(trip, builder.lots, parts=parts + len(trip.ids), commission=commission),
            ),
        )
    later = [t for t in builder.take_done() if t is not trip]
    if builder.trip is not None and builder.trip is not trip:
        later.append(builder.trip)
    return 1 + write_trips(sql, key, later, value, builder.lots)


def _update(
    sql: TripSql, trip_id: int, trip: Trip, value: PointValue | None, commission: Decimal
) -> None:
    pnl = None if value is None else money_of(trip.points * value.value)
    currency = None if value is None else value.currency
    kept, net, paid_in = commission_columns(trip.currencies, currency, pnl, commission)
    money = sql.money
    sql.run(
        _UPDATE,
        (
            sql.time(trip.closed_at),
            trip.quantity,
            trip.open_quantity,
            money(trip.entry_price),
            money(trip.exit_price),
            money(trip.points),
            money(pnl),
            money(kept),
            money(net),
            paid_in,
            trip_id,
        ),
    )


def _insert_parts(sql: TripSql, key: Key, trip_id: int, trip: Trip, first_seq: int) -> None:
    flat: list[Any] = []
    for n, (execution_id, quantity, commission, role) in enumerate(
        zip(trip.ids, trip.quantities, trip.commissions, trip.roles, strict=True)
    ):
        flat += (
            trip_id,
            first_seq + n,
            execution_id,
            quantity,
            sql.money(commission),
            role,
        )
    if flat:
        sql.insert(
            "round_trip_fills",
            ("round_trip_id", "seq", "execution_id", "quantity", "commission", "role"),
            flat,
        )
        sql.insert(
            "round_trip_bookings", BOOKING_COLUMNS, booking_rows(trip_id, key, trip, first_seq)
        )
