"""Round trips from fills, FIFO, per (account, instrument); pure, no I/O.

A round trip runs from flat to flat. A fill that crosses zero is split: the closing part
belongs to the old round trip, the rest opens a new one in the other direction, and its
commission is shared pro rata by quantity (rounded to 1e-8, the opening part takes the
remainder, so the parts add up exactly). Fills of one second are ordered so that their
Entry/Exit flags hold where they can, then by execution ID: the result never depends on
the order of files or rows.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from operator import itemgetter
from typing import NamedTuple

from csv_import_daemon.point_values import PointValue

MONEY_PLACES = Decimal("1E-8")  # the money columns' scale (NUMERIC(20, 8))
ZERO = Decimal(0)
ENTRY, EXIT = "entry", "exit"

_ID = itemgetter(0)  # Fill.execution_id
_SIDES = {"buy": 1, "buytocover": 1, "sell": -1, "sellshort": -1}


def side_of(action: str) -> int | None:
    """+1 for a buy (Buy, BuyToCover, "Buy to cover"), -1 for a sell; None if unknown."""
    return _SIDES.get(action.replace(" ", "").lower())


class Fill(NamedTuple):
    """One execution as round trips see it; ``side`` is +1 (buy) or -1 (sell).

    A named tuple, not a frozen dataclass: built once per fill read, several times cheaper.
    """

    execution_id: str
    executed_at: datetime
    side: int
    flag: str | None  # "Entry", "Exit" or None
    quantity: int
    price: Decimal
    commission: Decimal


class Part(NamedTuple):
    """The share of one fill in one round trip."""

    execution_id: str
    quantity: int
    commission: Decimal
    role: str  # ENTRY (opens or adds) or EXIT (reduces or closes)


@dataclass(slots=True)
class Trip:
    """One round trip, complete or still open."""

    direction: str  # "long" or "short"
    opened_at: datetime
    closed_at: datetime | None = None
    quantity: int = 0  # contracts opened in it
    open_quantity: int = 0
    entry_cost: Decimal = ZERO  # sum of quantity x price of the opening parts
    exit_quantity: int = 0
    exit_cost: Decimal = ZERO
    points: Decimal = ZERO
    commission: Decimal = ZERO
    parts: list[Part] = field(default_factory=list)

    @property
    def entry_price(self) -> Decimal | None:
        return _average(self.entry_cost, self.quantity)

    @property
    def exit_price(self) -> Decimal | None:
        return _average(self.exit_cost, self.exit_quantity)

    def pnl(self, value: PointValue | None) -> Decimal | None:
        return None if value is None else _money(self.points * value.value)

    def net_pnl(self, value: PointValue | None) -> Decimal | None:
        pnl = self.pnl(value)
        return None if pnl is None else pnl - self.commission


def _average(cost: Decimal, quantity: int) -> Decimal | None:
    return None if quantity == 0 else _money(cost / quantity)


def _money(value: Decimal) -> Decimal:
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -8:
        return value.quantize(MONEY_PLACES, rounding=ROUND_HALF_EVEN)
    return value


def _fits(fill: Fill, position: int) -> bool:
    """Does the fill's Entry/Exit flag hold at this position?"""
    if fill.flag == "Exit":
        return position != 0 and (position > 0) != (fill.side > 0)
    if fill.flag == "Entry":
        return position == 0 or (position > 0) == (fill.side > 0)
    return True


def order_second(fills: list[Fill], position: int) -> list[Fill]:
    """One second's fills in the order their flags hold where they can, then by ID."""
    if len(fills) < 2:
        return list(fills)
    remaining = sorted(fills, key=_ID)
    out: list[Fill] = []
    while remaining:
        pick = next((i for i, f in enumerate(remaining) if _fits(f, position)), 0)
        fill = remaining.pop(pick)
        out.append(fill)
        position += fill.side * fill.quantity
    return out


class TripBuilder:
    """Feeds fills, one second at a time, in time order; collects the round trips."""

    def __init__(self) -> None:
        self.position = 0
        self.lots: deque[list[Decimal | int]] = deque()  # [quantity, price], oldest first
        self.trip: Trip | None = None
        self.done: list[Trip] = []

    def add_second(self, fills: list[Fill]) -> None:
        if len(fills) == 1:  # the common case: nothing to order
            self.add(fills[0])
            return
        for fill in order_second(fills, self.position):
            self.add(fill)

    def add(self, fill: Fill) -> None:
        position, quantity = self.position, fill.quantity
        if position == 0 or (position > 0) == (fill.side > 0):
            self._entry(fill, quantity, fill.commission)
            return
        closing = min(quantity, abs(position))
        if closing == quantity:
            self._exit(fill, quantity, fill.commission)
            return
        # Crosses zero: the closing part and the opening rest share the commission.
        share = (fill.commission * closing / quantity).quantize(
            MONEY_PLACES, rounding=ROUND_HALF_EVEN
        )
        self._exit(fill, closing, share)
        self._entry(fill, quantity - closing, fill.commission - share)

    def _entry(self, fill: Fill, quantity: int, commission: Decimal) -> None:
        trip = self.trip
        if trip is None:
            trip = self.trip = Trip("long" if fill.side > 0 else "short", fill.executed_at)
        trip.quantity += quantity
        trip.open_quantity += quantity
        trip.entry_cost += fill.price * quantity
        trip.commission += commission
        trip.parts.append(Part(fill.execution_id, quantity, commission, ENTRY))
        self.lots.append([quantity, fill.price])
        self.position += fill.side * quantity

    def _exit(self, fill: Fill, quantity: int, commission: Decimal) -> None:
        trip = self.trip
        assert trip is not None  # a position is open, so is its round trip
        sign = 1 if trip.direction == "long" else -1
        left = quantity
        lots = self.lots
        while left:
            lot = lots[0]
            matched = min(int(lot[0]), left)
            trip.points += (fill.price - lot[1]) * matched * sign
            lot[0] = int(lot[0]) - matched
            left -= matched
            if lot[0] == 0:
                lots.popleft()
        trip.open_quantity -= quantity
        trip.exit_quantity += quantity
        trip.exit_cost += fill.price * quantity
        trip.commission += commission
        trip.parts.append(Part(fill.execution_id, quantity, commission, EXIT))
        self.position += fill.side * quantity
        if self.position == 0:
            trip.closed_at = fill.executed_at
            self.done.append(trip)
            self.trip = None

    def take_done(self) -> list[Trip]:
        done, self.done = self.done, []
        return done
