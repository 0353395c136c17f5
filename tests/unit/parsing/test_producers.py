"""Producers: who wrote a file, told by its name, and what its name says about its dates."""

from __future__ import annotations

from datetime import datetime

import pytest

from csv_import_daemon.parsing.producers import (
    Producer,
    date_order_from_name,
    export_moment,
    fixed_date_order,
    folder_evidence,
    producer_of,
)


@pytest.mark.parametrize(
    ("name", "moment"),
    [
        ("NinjaTrader Grid 2026-03-09 04-12 PM.csv", datetime(2026, 3, 9, 16, 12)),
        ("NinjaTrader Grid 2026-03-09 04-12 AM.csv", datetime(2026, 3, 9, 4, 12)),
        ("NinjaTrader Grid 2026-03-09 12-05 AM.csv", datetime(2026, 3, 9, 0, 5)),
        ("ninjatrader grid 2026-03-09 04-12 pm (1).CSV", datetime(2026, 3, 9, 16, 12)),
        # 24-hour clock (Brazil and elsewhere)
        ("NinjaTrader Grid 2026-03-09 16-12.csv", datetime(2026, 3, 9, 16, 12)),
        ("NinjaTrader Grid 2026-03-09 00-40.csv", datetime(2026, 3, 9, 0, 40)),
        # localized designators (es-MX 'p. m.', en-AU lowercase, 'a.m.')
        ("NinjaTrader Grid 2026-03-09 04-40 p. m..csv", datetime(2026, 3, 9, 16, 40)),
        ("NinjaTrader Grid 2026-03-09 04-40 a. m..csv", datetime(2026, 3, 9, 4, 40)),
        ("NinjaTrader Grid 2026-03-09 04-40 pm.csv", datetime(2026, 3, 9, 16, 40)),
        ("NinjaTrader Grid 2026-03-09 04-40 p.m..csv", datetime(2026, 3, 9, 16, 40)),
        # not a moment
        ("NinjaTrader Grid 2026-03-09 24-12.csv", None),
        ("NinjaTrader Grid 2026-03-09 13-12 PM.csv", None),
        ("NinjaTrader Grid 2026-02-30 04-12 PM.csv", None),
        ("export.csv", None),
    ],
)
def test_grid_export_names_are_the_export_moment(name: str, moment: datetime | None) -> None:
    assert export_moment(name) == moment


def test_producers_by_name() -> None:
    """The add-on's daily file is month-first everywhere and shows nothing about the PC;
    grid exports (and renamed files) show the PC's regional order."""
    addon = producer_of("NinjaTrader_Executions_20260803.csv")
    grid = producer_of("NinjaTrader Grid 2026-08-03 16-12.csv")
    assert (addon, grid, producer_of("uk.csv")) == (
        Producer.EXECUTIONS_ADDON,
        Producer.GRID_EXPORT,
        Producer.UNKNOWN,
    )
    assert [fixed_date_order(p) for p in Producer] == [None, "mdy", None]
    assert [folder_evidence(p) for p in Producer] == [True, False, True]


@pytest.mark.parametrize(
    ("name", "values", "order"),
    [
        # the add-on: fills from the day before the session date on, later days too
        ("NinjaTrader_Executions_20261008.csv", ["10/08/2026 6:07:25 PM"], "mdy"),
        ("ninjatrader_executions_20261009 (1).CSV", ["10/08/2026 6:07:25 PM"], "mdy"),
        ("NinjaTrader_Executions_20260803.csv", ["03/08/2026 2:31:07 PM"], "dmy"),
        # write, then rotate: Friday's file holds Monday's first fill
        (
            "NinjaTrader_Executions_20260807.csv",
            ["8/7/2026 9:30:00 AM", "8/10/2026 9:30:00 AM", "8/10/2026 9:31:00 AM"],
            "mdy",
        ),
        ("NinjaTrader_Executions_20260806.csv", ["8/7/2026 9:30:00 AM"], "mdy"),
        # both readings on or after the session date: the name settles nothing
        ("NinjaTrader_Executions_20260810.csv", ["10/08/2026 6:07:25 PM"], None),
        ("NinjaTrader_Executions_20260808.csv", ["08/08/2026 6:07:25 PM"], None),
        ("NinjaTrader_Executions_20261010.csv", ["10/08/2026 6:07:25 PM"], None),
        ("NinjaTrader_Executions_20261008.csv", ["junk", "10/08/2026 6:07:25 PM"], "mdy"),
        ("NinjaTrader_Executions_20260810.csv", [], None),
        ("NinjaTrader_Executions_20261399.csv", ["10/08/2026 6:07:25 PM"], None),
        ("grid-export.csv", ["10/08/2026 6:07:25 PM"], None),
        # grid exports: nothing later than the export moment (26 h for the zones)
        ("NinjaTrader Grid 2026-08-10 06-10 PM.csv", ["10/08/2026 6:07:25 PM"], "dmy"),
        ("NinjaTrader Grid 2026-08-10 18-10.csv", ["10/08/2026 6:07:25 PM"], "dmy"),
        ("NinjaTrader Grid 2026-08-10 06-10 p. m..csv", ["10/08/2026 6:07:25 p. m."], "dmy"),
        ("NinjaTrader Grid 2026-10-08 18-10.csv", ["10/08/2026 6:07:25 PM"], None),
        ("NinjaTrader Grid 2026-08-05 18-10.csv", ["03/08/2026 2:31:07 PM"], None),
    ],
)
def test_date_order_from_name(name: str, values: list[str], order: str | None) -> None:
    assert date_order_from_name(name, values) == order


@pytest.mark.parametrize(
    ("times", "order"),
    [
        (["1/5/2026 9:30:15 AM", "12/11/2026 12:01:00 pm", "3.4.2026 1:10:38 "], "mdy"),
        ([], "mdy"),
        (["05/03/2026 13:10"], None),  # a spreadsheet's re-save: leading zeros, 24 h
        (["5/3/2026 13:10:00"], None),  # hour 13: not the add-on's 12-hour clock
        (["5/3/2026 1:10 PM"], None),  # no seconds
    ],
)
def test_the_addon_settles_month_first_only_in_its_own_pattern(
    times: list[str], order: str | None
) -> None:
    assert fixed_date_order(Producer.EXECUTIONS_ADDON, times) == order
