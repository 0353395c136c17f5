"""The trading day: one rule (``Rollover``) for round trips, P&L, the page and the archiver."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, time

from csv_import_daemon.config.trading_day import Rollover

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def test_trading_day_rolls_over_at_the_configured_time() -> None:
    """Midnight rollover is the calendar day; an evening rollover starts tomorrow's session."""
    evening = datetime(2025, 10, 31, 17, 30, tzinfo=NEW_YORK)
    assert Rollover(time(0, 0), NEW_YORK).day_of(evening) == date(2025, 10, 31)
    assert Rollover(time(17, 0), NEW_YORK).day_of(evening) == date(2025, 11, 1)
    assert Rollover(time(18, 0), NEW_YORK).day_of(evening) == date(2025, 10, 31)


def test_a_trading_day_starts_at_the_rollover_before_it() -> None:
    """``start_of`` is the inverse of ``day_of``: the first instant (naive UTC) of the day."""
    evening = Rollover(time(17, 0), NEW_YORK)
    start = evening.start_of(date(2025, 11, 3))  # Monday; New York left DST on Sunday
    assert start == datetime(2025, 11, 2, 22, 0)
    assert evening.day_of(start) == date(2025, 11, 3)
    assert Rollover(time(0, 0), NEW_YORK).start_of(date(2025, 7, 1)) == datetime(2025, 7, 1, 4, 0)
