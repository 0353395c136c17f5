"""Chart geometry for the journal page: plain SVG coordinates computed here, drawn by the
template. Floats are used for pixels only; every figure a person reads stays a Decimal.

A long curve keeps, per pixel column, its first, lowest, highest and last point: what a
screen can show of 17,000 round trips, with every peak and trough (so the drawdown) intact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from csv_import_daemon.reports.journal_stats import Tally

WIDTH, HEIGHT, PAD = 960.0, 240.0, 8.0
BAR_HEIGHT = 160.0


@dataclass(frozen=True, slots=True)
class Curve:
    """The equity curve: its line, the drawdown area under the running high, the zero line."""

    line: str
    drawdown: str
    zero_y: float
    first_day: date | None
    last_day: date | None
    points: int  # points drawn (after thinning)


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    positive: bool
    label: str


def _scale(low: float, high: float, top: float, bottom: float) -> tuple[float, float]:
    """``y = a * value + b`` mapping [low, high] onto [bottom, top] (SVG y grows down)."""
    span = (high - low) or 1.0
    a = (top - bottom) / span
    return a, bottom - a * low


def _thin(values: Sequence[float], columns: int) -> list[tuple[int, float]]:
    """(index, value) pairs: all of them when few, else per column first/min/max/last."""
    if len(values) <= columns * 4:
        return list(enumerate(values))
    out: list[tuple[int, float]] = []
    per = len(values) / columns
    for c in range(columns):
        start, end = int(c * per), min(len(values), int((c + 1) * per))
        if start >= end:
            continue
        chunk = range(start, end)
        low = min(chunk, key=values.__getitem__)
        high = max(chunk, key=values.__getitem__)
        out += [(i, values[i]) for i in sorted({start, low, high, end - 1})]
    return out


def equity_curve(equity: Sequence[tuple[date, Decimal]]) -> Curve:
    """The curve of cumulative net P&L, starting from zero before the first round trip."""
    values = [0.0, *(float(v) for _, v in equity)]
    peaks: list[float] = []
    high = 0.0
    for v in values:
        high = max(high, v)
        peaks.append(high)
    a, b = _scale(min(values), max(values), PAD, HEIGHT - PAD)
    step = (WIDTH - 2 * PAD) / max(1, len(values) - 1)
    columns = int(WIDTH - 2 * PAD)

    def xy(i: int, v: float) -> str:
        return f"{PAD + i * step:.1f},{a * v + b:.1f}"

    kept = _thin(values, columns)
    line = "M" + "L".join(xy(i, v) for i, v in kept)
    # The area between the running high and the curve: the drawdowns, visible as such.
    top = [xy(i, peaks[i]) for i, _ in kept]
    bottom = [xy(i, v) for i, v in reversed(kept)]
    area = "M" + "L".join(top + bottom) + "Z"
    return Curve(
        line=line,
        drawdown=area,
        zero_y=round(b, 1),
        first_day=equity[0][0] if equity else None,
        last_day=equity[-1][0] if equity else None,
        points=len(kept),
    )


def bars(groups: Sequence[Tally]) -> list[Bar]:
    """One bar of net P&L per group, up from or down to the zero line."""
    if not groups:
        return []
    nets = [float(g.net) for g in groups]
    a, b = _scale(min(0.0, *nets), max(0.0, *nets), PAD, BAR_HEIGHT - PAD)
    slot = (WIDTH - 2 * PAD) / len(groups)
    zero = b
    out = []
    for i, (g, v) in enumerate(zip(groups, nets, strict=True)):
        y = a * v + b
        out.append(
            Bar(
                x=round(PAD + i * slot + slot * 0.1, 1),
                y=round(min(y, zero), 1),
                width=round(slot * 0.8, 1),
                height=round(max(abs(zero - y), 1.0), 1),
                positive=v >= 0,
                label=g.key,
            )
        )
    return out


# -- calendar ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cell:
    day: date | None  # None: a day of another month
    tally: Tally | None  # None: nothing closed that day
    level: int  # -4..4: colour strength, sign of the net P&L


@dataclass(frozen=True, slots=True)
class Week:
    cells: list[Cell]
    total: Decimal
    trips: int


@dataclass(frozen=True, slots=True)
class Month:
    first: date
    weeks: list[Week]
    total: Decimal
    trips: int


def _level(net: Decimal, largest: Decimal) -> int:
    if not net or not largest:
        return 0
    strength = min(4, int(abs(net) * 4 / largest) + 1)
    return strength if net > 0 else -strength


def calendar(daily: dict[date, Tally]) -> list[Month]:
    """Months with round trips, weeks (Monday first) as rows, oldest first."""
    if not daily:
        return []
    largest = max(abs(t.net) for t in daily.values())
    months: list[Month] = []
    for first in sorted({d.replace(day=1) for d in daily}):
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        start = date.fromordinal(first.toordinal() - first.weekday())
        weeks: list[Week] = []
        while start < following:
            cells = []
            for offset in range(7):
                day = date.fromordinal(start.toordinal() + offset)
                tally = daily.get(day) if day.month == first.month else None
                shown = day if day.month == first.month else None
                cells.append(Cell(shown, tally, _level(tally.net, largest) if tally else 0))
            kept = [c.tally for c in cells if c.tally]
            weeks.append(
                Week(
                    cells, sum((t.net for t in kept), Decimal(0)), sum(t.round_trips for t in kept)
                )
            )
            start = date.fromordinal(start.toordinal() + 7)
        months.append(
            Month(
                first,
                weeks,
                sum((w.total for w in weeks), Decimal(0)),
                sum(w.trips for w in weeks),
            )
        )
    return months
