"""The journal page's statistics on hand-computed round trips: exact, and as defined."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from csv_import_daemon.config.trading_day import parse_rollover
from csv_import_daemon.reports.journal_charts import calendar, equity_curve
from csv_import_daemon.reports.journal_data import JournalData
from csv_import_daemon.reports.journal_stats import build_views, max_drawdown
from csv_import_daemon.reports.page import PageOptions, render_page
from support.journal_page import read_page

D = Decimal
ROLLOVER = parse_rollover("17:00 America/Chicago")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def trip(day: int, net: str, *, hour: int = 15, account: str = "A", currency: str | None = "USD"):
    closed = datetime(2025, 3, day, hour, 0)  # naive UTC, as stored
    return {
        "account": account,
        "instrument": "MNQ MAR25",
        "opened_at": closed.replace(minute=0, hour=hour - 1),
        "closed_at": closed,
        "pnl": D(net) + D("1.04"),
        "commission": D("1.04"),
        "net_pnl": D(net),
        "currency": currency,
    }


def test_summary_figures_follow_their_definitions() -> None:
    """+10, -5, 0 (even), +20, -15, -15: win rate counts the even one as a round trip, the
    profit factor is won / lost, streaks are broken by an even one, the drawdown runs from
    the high of 25 (day 6) to -5 (day 10)."""
    nets = ["10", "-5", "0", "20", "-15", "-15"]
    trips: list[dict[str, Any]] = [trip(3 + i + (i > 2) * 1, n) for i, n in enumerate(nets)]
    views = build_views(trips, ROLLOVER, NEW_YORK)
    (usd,) = views.currencies
    s = usd.summary
    assert (s.round_trips, s.wins, s.losses) == (6, 2, 3)
    assert s.net == D("-5")
    assert s.gross == D("-5") + 6 * D("1.04")
    assert s.commission == 6 * D("1.04")
    assert s.win_rate == D(200) / 6
    assert s.profit_factor == D(30) / D(35)
    assert s.expectancy == D(-5) / 6
    assert (s.average_win, s.average_loss) == (D(15), D(-35) / 3)
    assert (s.largest_win, s.largest_loss) == (D(20), D(-15))
    assert (s.win_streak, s.loss_streak) == (1, 2)
    assert s.drawdown.amount == D(30)
    assert (s.drawdown.peak_day, s.drawdown.trough_day) == (date(2025, 3, 7), date(2025, 3, 9))


def test_open_and_unpriced_round_trips_are_counted_apart() -> None:
    """Neither an open round trip nor one without a point value joins a currency's sums."""
    open_trip = {**trip(3, "1"), "closed_at": None}
    views = build_views([open_trip, trip(4, "7", currency=None), trip(5, "2")], ROLLOVER, NEW_YORK)
    assert (views.open_trips, views.unpriced) == (1, 1)
    assert views.currencies[0].summary.net == D(2)


def test_a_trip_after_the_rollover_books_on_the_next_trading_day() -> None:
    """Closed 23:00 UTC on Monday (17:00 Chicago): Tuesday, in the calendar and weekdays."""
    views = build_views([trip(3, "4", hour=23)], ROLLOVER, NEW_YORK)
    (usd,) = views.currencies
    assert list(usd.daily) == [date(2025, 3, 4)]
    assert [g.key for g in usd.breakdowns["weekday"]] == ["Tue"]
    assert [g.key for g in usd.breakdowns["hour"]] == ["17:00"]  # entry 22:00 UTC: 17:00 EST


def test_drawdown_from_the_start_has_no_peak_day() -> None:
    """A first loss falls from the zero the curve starts at."""
    dd = max_drawdown([(date(2025, 3, 3), D(-4)), (date(2025, 3, 4), D(1))])
    assert (dd.amount, dd.peak_day, dd.trough_day) == (D(4), None, date(2025, 3, 3))


def test_a_long_curve_is_thinned_but_keeps_its_extremes() -> None:
    """20,000 points become a few per pixel column; the lowest point is still drawn."""
    equity = [(date(2025, 3, 3), D(i % 97) - (D(500) if i == 12_345 else 0)) for i in range(20_000)]
    curve = equity_curve(equity)
    assert curve.points < 4000
    lowest = max(float(p.split(",")[1]) for p in curve.line[1:].split("L"))
    assert lowest == max(float(p.split(",")[1]) for p in curve.drawdown[1:-1].split("L"))


def test_calendar_weeks_start_on_monday_with_week_and_month_totals() -> None:
    """March 2025 starts on a Saturday: six week rows; totals add up the days."""
    views = build_views([trip(3, "4"), trip(7, "-1"), trip(31, "2")], ROLLOVER, NEW_YORK)
    (march,) = calendar(views.currencies[0].daily)
    assert len(march.weeks) == 6
    assert march.weeks[0].cells[5].day == date(2025, 3, 1)
    assert [w.total for w in march.weeks] == [0, 3, 0, 0, 0, 2]
    assert march.total == D(5)
    assert march.trips == 3


def test_an_empty_journal_makes_a_page_that_says_so() -> None:
    """No round trips: no currency section, a sentence instead, the health still shown."""
    html = render_page(JournalData(trips=[]), PageOptions(rollover=ROLLOVER, zone=NEW_YORK))
    page = read_page(html)
    assert page.figures == {}
    assert "No closed round trips" in html
    assert page.health["trades"] == "0"
    assert page.rows() == {"names": [], "rows": []}
