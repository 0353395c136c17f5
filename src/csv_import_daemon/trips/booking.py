"""Realized P&L as a broker statement books it: each exit on the trading day of its fill.

A round trip's stored parts are replayed in their order: an entry part adds a lot, an exit
part closes the oldest lots (FIFO, with ``match_lots``: the arithmetic the round trip was
computed with) and realizes (exit - entry) x contracts, negated for shorts, on the trading
day of its own fill. Each part's commission lands on the trading day of its own fill too:
an entry's commission on the day it was paid (even while its round trip is still open), an
exit's on the exit's day, never moved to the day the round trip closes. Summed over all
days, the bookings equal the round trips' own ``pnl`` and ``commission``, open round trips
included.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from csv_import_daemon.config.point_values import PointValue, PointValues, instrument_root
from csv_import_daemon.config.trading_day import Rollover
from csv_import_daemon.errors import CsvImportError
from csv_import_daemon.trips.fifo import ENTRY, ZERO, match_lots, money_of

GROUPS = ("day", "week", "month", "account", "instrument", "contract", "root")


class PartRow(NamedTuple):
    """One stored part of a round trip with its fill's price and time, in part order."""

    trip_id: int
    account: str
    instrument: str
    direction: str
    role: str
    quantity: int
    commission: Decimal | None
    price: Decimal
    executed_at: datetime
    commission_currency: str | None = None  # its fill's; None: the P&L's
    contract: str | None = None  # its round trip's (config.contracts), all spellings as one


class Booking(NamedTuple):
    """What one part books on its fill's trading day (points and pnl zero for an entry)."""

    trip_id: int
    account: str
    instrument: str
    day: date
    points: Decimal
    pnl: Decimal | None  # None: no point value for the instrument
    commission: Decimal
    currency: str | None
    commission_currency: str | None  # the currency ``commission`` is in
    contract: str | None = None


def book(parts: Iterable[PartRow], values: PointValues, rollover: Rollover) -> Iterator[Booking]:
    """The bookings of parts given round trip after round trip, each in part order.

    An exit with fewer open lots than it closes (trades edited since the round trip was
    computed) raises ``StaleRoundTrip``: a report never books a guess.
    """
    lots: deque[list[Any]] = deque()
    open_quantity = 0
    current: int | None = None
    day_of = rollover.day_of
    days: dict[datetime, date] = {}
    for part in parts:
        if part.trip_id != current:
            current = part.trip_id
            lots.clear()
            open_quantity = 0
        if part.role == ENTRY:
            lots.append([part.quantity, part.price])
            open_quantity += part.quantity
            points = ZERO
        else:
            if part.quantity > open_quantity:
                raise StaleRoundTrip(part.trip_id)
            gained = match_lots(lots, part.quantity, part.price, ZERO)
            open_quantity -= part.quantity
            points = gained if part.direction == "long" else ZERO - gained
        value = values.lookup(part.instrument)
        # Within one minute the trading day cannot change (the rollover is a whole minute and
        # zone offsets are whole minutes); a bounded cache keeps memory flat on years of fills.
        minute = part.executed_at.replace(second=0, microsecond=0)
        day = days.get(minute)
        if day is None:
            if len(days) >= 4096:
                days.clear()
            day = days[minute] = day_of(minute)
        currency = None if value is None else value.currency
        yield Booking(
            part.trip_id,
            part.account,
            part.instrument,
            day,
            points,
            None if value is None else money_of(points * value.value),
            ZERO if part.commission is None else part.commission,
            currency,
            part.commission_currency or currency,
            part.contract,
        )


class StaleRoundTrip(CsvImportError):
    """A round trip's stored parts no longer match ``trades``: rebuild before reporting."""

    def __init__(self, trip_id: int | None) -> None:
        which = "round trips disagree" if trip_id is None else f"round trip {trip_id} disagrees"
        super().__init__(
            f"{which} with trades (edited by hand since?); "
            "run `csv-import-daemon round-trips --rebuild`"
        )
        self.trip_id = trip_id


def label_of(by: str) -> Callable[[Booking], str]:
    """The group a booking falls in: its trading day, ISO week, month, account, instrument
    as written, contract (``MNQ 06-26`` whatever the spelling) or root."""
    label = _LABELS.get(by)
    if label is None:
        raise ValueError(f"unknown grouping {by!r}; use one of {', '.join(GROUPS)}")
    return label


def _week(booking: Booking) -> str:
    year, week, _ = booking.day.isocalendar()
    return f"{year}-W{week:02d}"


_LABELS: dict[str, Callable[[Booking], str]] = {
    "day": lambda b: b.day.isoformat(),
    "week": _week,
    "month": lambda b: f"{b.day:%Y-%m}",
    "account": lambda b: b.account,
    "instrument": lambda b: b.instrument,
    "contract": lambda b: b.contract or b.instrument,
    "root": lambda b: instrument_root(b.instrument),
}


def group_bookings(bookings: Iterable[Booking], by: str) -> list[dict[str, Any]]:
    """Per group and currency: round trips booking in it, pnl, commission, net_pnl.

    A commission in another currency than its P&L's lands in its own currency's row (its
    net_pnl less it there), never subtracted from the other currency's P&L. Bookings come
    round trip after round trip, so a round trip is counted once a group.
    """
    label = label_of(by)
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    last: dict[tuple[str, str], int] = {}

    def group_of(name: str, currency: str | None, trip_id: int) -> dict[str, Any]:
        key = (name, currency or "")
        group = groups.get(key)
        if group is None:
            group = groups[key] = {
                by: name,
                "currency": currency,
                "round_trips": 0,
                "pnl": ZERO if currency else None,
                "commission": ZERO,
                "net_pnl": ZERO if currency else None,
            }
        if last.get(key) != trip_id:
            last[key] = trip_id
            group["round_trips"] += 1
        return group

    for b in bookings:
        name = label(b)
        group = group_of(name, b.currency, b.trip_id)
        if b.pnl is not None:
            group["pnl"] += b.pnl
            group["net_pnl"] += b.pnl
        if b.currency is not None and b.commission_currency != b.currency and b.commission:
            group = group_of(name, b.commission_currency, b.trip_id)
        group["commission"] += b.commission
        if group["net_pnl"] is not None:
            group["net_pnl"] -= b.commission
    return [groups[k] for k in sorted(groups)]


class Statement:
    """Groups in the making, ``booking.group_bookings``'s shape and rules."""

    def __init__(self, by: str, since: date | None, until: date | None) -> None:
        self.by = by
        self.since, self.until = since, until
        self.groups: dict[tuple[str, str], dict[str, Any]] = {}

    def label(self, account: str, instrument: str, day: date, contract: str | None) -> str:
        """The group (``booking.label_of``'s) of a booking of this round trip on ``day``."""
        return _PART_LABELS[self.by](account, instrument, day, contract)

    def wanted(self, day: date) -> bool:
        return (self.since is None or day >= self.since) and (
            self.until is None or day <= self.until
        )

    def group(self, name: str, currency: str | None) -> dict[str, Any]:
        key = (name, currency or "")
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = {
                self.by: name,
                "currency": currency,
                "round_trips": 0,
                "pnl": ZERO if currency else None,
                "commission": ZERO,
                "net_pnl": ZERO if currency else None,
            }
        return group

    def add(
        self,
        name: str,
        value: PointValue | None,
        paid_in: str,
        amounts: tuple[Decimal, Decimal],
        trips: int,
        charged: int,
    ) -> None:
        """``trips`` round trips booking ``amounts`` (points, commission) in group ``name``;
        ``charged`` of them with a commission (counted in its currency's group too)."""
        points, commission = amounts
        currency = None if value is None else value.currency
        group = self.group(name, currency)
        group["round_trips"] += trips
        if value is not None:
            pnl = points * value.value  # exact: no part's product is finer than 1e-8
            group["pnl"] += pnl
            group["net_pnl"] += pnl
        if currency is not None and (paid_in or currency) != currency:
            if not charged:
                return
            group = self.group(name, paid_in)
            group["round_trips"] += charged
        group["commission"] += commission
        if group["net_pnl"] is not None:
            group["net_pnl"] -= commission

    def add_bookings(self, bookings: Iterable[Booking]) -> None:
        """The reference's bookings of whole round trips (``booking.book``)."""
        last: dict[tuple[str, str], int] = {}
        for b in bookings:
            if not self.wanted(b.day):
                continue
            name = self.label(b.account, b.instrument, b.day, b.contract)
            group = self.group(name, b.currency)
            key = (name, b.currency or "")
            if last.get(key) != b.trip_id:
                last[key] = b.trip_id
                group["round_trips"] += 1
            if b.pnl is not None:
                group["pnl"] += b.pnl
                group["net_pnl"] += b.pnl
            if b.currency is not None and b.commission_currency != b.currency and b.commission:
                key = (name, b.commission_currency or "")
                group = self.group(name, b.commission_currency)
                if last.get(key) != b.trip_id:
                    last[key] = b.trip_id
                    group["round_trips"] += 1
            group["commission"] += b.commission
            if group["net_pnl"] is not None:
                group["net_pnl"] -= b.commission

    def result(self) -> list[dict[str, Any]]:
        # A group whose every row was taken back out (worked out another way) is none.
        return [self.groups[k] for k in sorted(self.groups) if self.groups[k]["round_trips"]]


def _week_of(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


_PART_LABELS: dict[str, Callable[[str, str, date, str | None], str]] = {
    "day": lambda a, i, d, c: d.isoformat(),
    "week": lambda a, i, d, c: _week_of(d),
    "month": lambda a, i, d, c: f"{d:%Y-%m}",
    "account": lambda a, i, d, c: a,
    "instrument": lambda a, i, d, c: i,
    "contract": lambda a, i, d, c: c or i,
    "root": lambda a, i, d, c: instrument_root(i),
}
