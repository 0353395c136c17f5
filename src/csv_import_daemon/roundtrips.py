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
from typing import Any, NamedTuple

from csv_import_daemon.point_values import PointValue

MONEY_PLACES = Decimal("1E-8")  # the money columns' scale (NUMERIC(20, 8))
ZERO = Decimal(0)
ENTRY, EXIT = "entry", "exit"

_ID = itemgetter(0)  # Fill.execution_id
_SIDES = {"buy": 1, "buytocover": 1, "sell": -1, "sellshort": -1}
COMMON_SIDES = {"Buy": 1, "Sell": -1, "BuyToCover": 1, "SellShort": -1}  # looked up first


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
    """One round trip, complete or still open.

    Its parts are kept column by column (``ids``, ``quantities``, ``commissions``,
    ``roles``): one append each per fill, and the writer zips them into rows in C.
    """

    direction: str  # "long" or "short"
    opened_at: datetime
    closed_at: datetime | None = None
    quantity: int = 0  # contracts opened in it
    open_quantity: int = 0
    entry_cost: Decimal = ZERO  # sum of quantity x price of the opening parts
    exit_quantity: int = 0
    exit_cost: Decimal = ZERO
    gained: Decimal = ZERO  # sum over matched lots of (exit - entry) x contracts, unsigned
    commission: Decimal = ZERO
    ids: list[str] = field(default_factory=list)
    quantities: list[int] = field(default_factory=list)
    commissions: list[Decimal] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)

    @property
    def points(self) -> Decimal:
        # ZERO - x, not -x: never a negative zero.
        return self.gained if self.direction == "long" else ZERO - self.gained

    @property
    def parts(self) -> list[Part]:
        return [
            Part(*p)
            for p in zip(self.ids, self.quantities, self.commissions, self.roles, strict=True)
        ]

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
    """Feeds fills, one second at a time, in time order; collects the round trips.

    The hot loop of every import: locals and plain lists rather than small objects.
    """

    def __init__(self) -> None:
        self.position = 0
        self.lots: deque[list[Any]] = deque()  # [quantity, price], oldest first
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
        elif quantity <= abs(position):
            self._exit(fill, quantity, fill.commission)
        else:
            # Crosses zero: the closing part and the opening rest share the commission.
            closing = abs(position)
            share = (fill.commission * closing / quantity).quantize(
                MONEY_PLACES, rounding=ROUND_HALF_EVEN
            )
            self._exit(fill, closing, share)
            self._entry(fill, quantity - closing, fill.commission - share)

    def _entry(self, fill: Fill, quantity: int, commission: Decimal) -> None:
        trip = self.trip
        if trip is None:
            trip = self.trip = Trip("long" if fill.side > 0 else "short", fill.executed_at)
        price = fill.price
        trip.quantity += quantity
        trip.open_quantity += quantity
        trip.entry_cost += price * quantity
        trip.commission += commission
        trip.ids.append(fill.execution_id)
        trip.quantities.append(quantity)
        trip.commissions.append(commission)
        trip.roles.append(ENTRY)
        self.lots.append([quantity, price])
        self.position += fill.side * quantity

    def _exit(self, fill: Fill, quantity: int, commission: Decimal) -> None:
        trip = self.trip
        assert trip is not None  # a position is open, so is its round trip
        price = fill.price
        gained = trip.gained
        lots = self.lots
        left = quantity
        while left:  # FIFO: the oldest lots first
            lot = lots[0]
            lot_quantity = lot[0]
            if lot_quantity > left:
                gained += (price - lot[1]) * left
                lot[0] = lot_quantity - left
                break
            gained += (price - lot[1]) * lot_quantity
            left -= lot_quantity
            lots.popleft()
        trip.gained = gained
        trip.open_quantity -= quantity
        trip.exit_quantity += quantity
        trip.exit_cost += price * quantity
        trip.commission += commission
        trip.ids.append(fill.execution_id)
        trip.quantities.append(quantity)
        trip.commissions.append(commission)
        trip.roles.append(EXIT)
        self.position += fill.side * quantity
        if self.position == 0:
            trip.closed_at = fill.executed_at
            self.done.append(trip)
            self.trip = None

    def take_done(self) -> list[Trip]:
        done, self.done = self.done, []
        return done
