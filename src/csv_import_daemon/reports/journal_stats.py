"""The journal page's figures, per currency, from closed round trips: exact decimals.

Definitions (the README's "Journal page" says the same): a round trip is a win when its net
P&L is above zero, a loss below, a scratch at zero; it counts whole on the trading day it
closed (``trips.queries.group_key``). The calendar instead shows ``statement``, what
``pnl --by day`` books (each exit on its own day).
Round trips without a point value (no currency) and open ones are counted apart, never
guessed into a total.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from csv_import_daemon.config.point_values import instrument_root
from csv_import_daemon.config.trading_day import Rollover
from csv_import_daemon.trips.queries import group_key
from csv_import_daemon.trips.statement import Days, hour_of

ZERO = Decimal(0)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(slots=True)
class Tally:
    """Round trips added up: the row of a breakdown, and the base of a summary."""

    key: str = ""
    round_trips: int = 0
    wins: int = 0
    losses: int = 0
    gross: Decimal = ZERO
    commission: Decimal = ZERO
    net: Decimal = ZERO
    win_total: Decimal = ZERO
    loss_total: Decimal = ZERO

    def add(self, trip: dict[str, Any]) -> None:
        net = trip["net_pnl"]
        self.round_trips += 1
        self.commission += trip["commission"] or ZERO  # null only past NUMERIC(38, 8)
        if net is None:
            return
        self.gross += trip["pnl"]
        self.net += net
        if net > 0:
            self.wins += 1
            self.win_total += net
        elif net < 0:
            self.losses += 1
            self.loss_total += net

    def merge(self, other: Tally) -> None:
        self.round_trips += other.round_trips
        self.wins += other.wins
        self.losses += other.losses
        self.gross += other.gross
        self.commission += other.commission
        self.net += other.net
        self.win_total += other.win_total
        self.loss_total += other.loss_total

    @property
    def win_rate(self) -> Decimal | None:
        """Wins per 100 round trips (scratches count as round trips, not wins)."""
        return Decimal(self.wins * 100) / self.round_trips if self.round_trips else None


@dataclass(frozen=True, slots=True)
class Drawdown:
    """The largest fall of cumulative net P&L from a previous high (zero counts as one)."""

    amount: Decimal = ZERO
    peak_day: date | None = None
    trough_day: date | None = None


@dataclass(slots=True)
class Summary(Tally):
    largest_win: Decimal | None = None
    largest_loss: Decimal | None = None
    win_streak: int = 0
    loss_streak: int = 0
    drawdown: Drawdown = field(default_factory=Drawdown)

    @property
    def profit_factor(self) -> Decimal | None:
        """Won / lost; None when nothing was lost."""
        return self.win_total / -self.loss_total if self.loss_total else None

    @property
    def expectancy(self) -> Decimal | None:
        """Net P&L per round trip."""
        return self.net / self.round_trips if self.round_trips else None

    @property
    def average_win(self) -> Decimal | None:
        return self.win_total / self.wins if self.wins else None

    @property
    def average_loss(self) -> Decimal | None:
        return self.loss_total / self.losses if self.losses else None


@dataclass(slots=True)
class CurrencyView:
    """Everything the page shows for one currency."""

    currency: str
    summary: Summary
    daily: dict[date, Tally]  # whole round trips by trading day of close
    equity: list[tuple[date, Decimal]]  # cumulative net after each round trip
    breakdowns: dict[str, list[Tally]]
    # ``pnl --by day``: each exit and commission on its fill's trading day (the calendar)
    statement: dict[date, Tally] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Views:
    currencies: list[CurrencyView]
    open_trips: int
    unpriced: int  # closed round trips without a point value


def booked_days(trips: Iterable[dict[str, Any]], rollover: Rollover) -> dict[int, str]:
    """``id(trip)`` -> the trading day (ISO) a closed round trip books on, as ``pnl --by
    day`` groups it; worked out once for the table."""
    return {id(t): group_key(t, "day", rollover) for t in trips if t["closed_at"] is not None}


def build_views(
    trips: Iterable[dict[str, Any]],
    rollover: Rollover,
    zone: zoneinfo.ZoneInfo,
    statement: list[dict[str, Any]] | None = None,
) -> Views:
    """The figures of ``trips``, given in the order they closed (``iter_closing_order``),
    added up as they come: years of round trips in flat memory. ``statement`` is
    ``pnl_groups(..., "day")`` of the same selection, for the calendar."""
    views: dict[str, _ViewBuilder] = {}
    open_trips = unpriced = 0
    days = Days(rollover)  # per UTC hour where exact: day_of per round trip cost 1.6 s a year
    for trip in trips:
        closed = trip["closed_at"]
        if closed is None:
            open_trips += 1
        elif trip["currency"] is None:
            unpriced += 1
        else:
            day = days(hour_of(closed)) or rollover.day_of(closed)
            for side in _sides(trip):
                builder = views.get(side["currency"])
                if builder is None:
                    builder = views[side["currency"]] = _ViewBuilder(side["currency"], zone)
                builder.add(side, day)
    booked_by_day: dict[str, dict[date, Tally]] = {}
    for g in statement or []:
        if g["currency"] is not None:
            day = date.fromisoformat(g["day"])
            booked_by_day.setdefault(g["currency"], {})[day] = Tally(
                key=g["day"],
                round_trips=g["round_trips"],
                gross=g["pnl"],
                commission=g["commission"],
                net=g["net_pnl"],
            )
    out = []
    for currency in sorted(set(views) | set(booked_by_day)):
        view = (views.get(currency) or _ViewBuilder(currency, zone)).view()
        view.statement = booked_by_day.get(currency, {})
        out.append(view)
    return Views(out, open_trips, unpriced)


def _sides(trip: dict[str, Any]) -> list[dict[str, Any]]:
    """A round trip as each currency's view counts it: a commission in another currency
    than its P&L's counts in that currency's view (net: minus it), as ``pnl`` books it."""
    if "commissions" in trip:  # in several currencies: each in its own view
        currency, pnl = trip["currency"], trip["pnl"]
        own = trip["commissions"].get(currency, ZERO)
        sides = [{**trip, "commission": own, "net_pnl": None if pnl is None else pnl - own}]
        return sides + [
            {**trip, "currency": c, "pnl": ZERO, "commission": amount, "net_pnl": -amount}
            for c, amount in sorted(trip["commissions"].items())
            if c != currency
        ]
    paid_in = trip.get("commission_currency") or trip["currency"]
    if paid_in == trip["currency"] or trip["commission"] is None:
        return [trip]
    pnl, commission = trip["pnl"], trip["commission"]
    return [
        {**trip, "commission": ZERO, "net_pnl": pnl},
        {
            **trip,
            "currency": paid_in,
            "pnl": ZERO,
            "commission": commission,
            "net_pnl": -commission,
        },
    ]


class _ViewBuilder:
    """One currency's figures, closed round trip after closed round trip."""

    def __init__(self, currency: str, zone: zoneinfo.ZoneInfo) -> None:
        self.currency = currency
        self.summary = Summary(key=currency)
        self.daily: dict[date, Tally] = {}
        self.equity: list[tuple[date, Decimal]] = []
        self.groups: dict[str, dict[str, Tally]] = {"account": {}, "root": {}, "hour": {}}
        # One tally per (day, account, root, hour opened), merged into the breakdowns at the
        # end: a round trip is added twice (here and the summary), not five times.
        self.cells: dict[tuple[date, str, str, int], Tally] = {}
        self.roots: dict[str, str] = {}
        self.clock = WallClock(zone)
        self.wins = self.losses = 0  # the current streaks

    def add(self, trip: dict[str, Any], day: date) -> None:
        summary = self.summary
        summary.add(trip)
        self.equity.append((day, summary.net))
        instrument = trip["instrument"]
        root = self.roots.get(instrument)
        if root is None:
            root = self.roots[instrument] = instrument_root(instrument)
        hour = self.clock.seconds(trip["opened_at"]) // 3600 % 24
        cell = (day, str(trip["account"]), root, hour)
        tally = self.cells.get(cell)
        if tally is None:
            tally = self.cells[cell] = Tally()
        tally.add(trip)
        net = trip["net_pnl"]
        if net is None:
            return
        # Largest win and loss, longest streaks (a scratch ends both kinds).
        self.wins = self.wins + 1 if net > 0 else 0
        self.losses = self.losses + 1 if net < 0 else 0
        summary.win_streak = max(summary.win_streak, self.wins)
        summary.loss_streak = max(summary.loss_streak, self.losses)
        if net > 0 and (summary.largest_win is None or net > summary.largest_win):
            summary.largest_win = net
        if net < 0 and (summary.largest_loss is None or net < summary.largest_loss):
            summary.largest_loss = net

    def view(self) -> CurrencyView:
        groups = self.groups
        for (day, account, root, hour), tally in self.cells.items():
            self.daily.setdefault(day, Tally(key=day.isoformat())).merge(tally)
            for name, key in (("account", account), ("root", root), ("hour", f"{hour:02d}:00")):
                groups[name].setdefault(key, Tally(key=key)).merge(tally)
        self.cells.clear()
        self.summary.drawdown = max_drawdown(self.equity)
        breakdowns = {
            "account": _sorted(self.groups["account"]),
            "root": _sorted(self.groups["root"]),
            "weekday": _by_weekday(self.daily),
            "hour": _sorted(self.groups["hour"]),
        }
        return CurrencyView(self.currency, self.summary, self.daily, self.equity, breakdowns)


def _sorted(groups: dict[str, Tally]) -> list[Tally]:
    return sorted(groups.values(), key=lambda g: g.key)


def _by_weekday(daily: dict[date, Tally]) -> list[Tally]:
    """The days' tallies added up by weekday, Monday first."""
    out: dict[int, Tally] = {}
    for day, tally in daily.items():
        out.setdefault(day.weekday(), Tally(key=WEEKDAYS[day.weekday()])).merge(tally)
    return [out[k] for k in sorted(out)]


def max_drawdown(equity: Iterable[tuple[date, Decimal]]) -> Drawdown:
    """Peak to trough of a cumulative curve that starts at zero before its first point."""
    peak, peak_day = ZERO, None
    best = Drawdown()
    for day, value in equity:
        if value > peak:
            peak, peak_day = value, day
        elif peak - value > best.amount:
            best = Drawdown(peak - value, peak_day, day)
    return best


_EPOCH = datetime(1970, 1, 1)
_SECOND = timedelta(seconds=1)
_CHANGES = object()  # an hour with an offset change in it


class WallClock:
    """Stored naive-UTC times as wall clock in ``zone``, exactly, a year of fills fast.

    A zone's offset is looked up once per UTC hour and kept only when it is the same at
    both ends of that hour; an hour with a change in it is converted time by time.
    """

    def __init__(self, zone: zoneinfo.ZoneInfo) -> None:
        self.zone = zone
        self._hours: dict[int, object] = {}

    def _exact(self, utc: datetime) -> int:
        offset = utc.replace(tzinfo=UTC).astimezone(self.zone).utcoffset()
        assert offset is not None  # a ZoneInfo always has one
        return offset // _SECOND

    def _offset(self, hour: int, utc: datetime) -> int:
        found = self._hours.get(hour)
        if found is None:
            start = _EPOCH + timedelta(hours=hour)
            first, last = self._exact(start), self._exact(start + timedelta(seconds=3599))
            found = self._hours[hour] = first if first == last else _CHANGES
        return self._exact(utc) if found is _CHANGES else found  # type: ignore[return-value]

    def seconds(self, utc: datetime) -> int:
        """Wall-clock seconds since 1970-01-01 00:00 (the page formats them as UTC, which
        shows the wall clock exactly, whatever the viewer's own zone)."""
        s = (utc - _EPOCH) // _SECOND
        return s + self._offset(s // 3600, utc)

    def local(self, utc: datetime) -> datetime:
        """Naive wall-clock time in the zone (to the second)."""
        return _EPOCH + timedelta(seconds=self.seconds(utc))

    def text(self, utc: datetime | None) -> str:
        """``YYYY-MM-DD HH:MM:SS`` on the wall clock; empty for None."""
        return "" if utc is None else self.local(utc).isoformat(" ", "seconds")
