"""Right refusals: other grids by their own columns, TAB files, compact dates, and hints
that point at the column at fault."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db.tables import REJECTIONS, TRADES
from csv_import_daemon.errors import UnknownFormatError
from csv_import_daemon.importing.service import ImportService
from csv_import_daemon.parsing.fields import date_order_from_times
from csv_import_daemon.parsing.layout import LayoutOptions, sniff_layout
from csv_import_daemon.parsing.row_parser import Execution, RowError, RowParser, split_lines

HEADER = (
    "Instrument,Action,Quantity,Price,Time,ID,E/X,Position,Order ID,Name,Commission,"
    "Rate,Account,Connection,"
)
GRIDS = {
    "Orders": "Instrument,Action,Type,Quantity,Limit,Stop,State,Filled,Avg. price,Remaining,"
    "Name,Strategy,OCO,TIF,Account,Account display name,ID,Time,Cancel,",
    "Positions": "Instrument,Account,Account display name,Strategy,Position,Quantity,"
    "Avg. price,Unrealized,Connection,",
    "Accounts": "Connection,Account,Display name,Buying power,Cash value,Excess intraday "
    "margin,Gross realized PnL,Net liquidation,Realized PnL,Total cash balance,"
    "Unrealized PnL,",
}
# What a user might alias to make such a grid "import".
ALIASES = LayoutOptions(
    header_aliases={"avg. price": "price", "type": "action", "state": "time"},
)


@pytest.mark.parametrize("grid", sorted(GRIDS))
def test_other_grids_are_refused_by_name_whatever_the_aliases(grid: str) -> None:
    """An Orders grid mapped with aliases would store orders as fills: refused by its own
    columns, naming it, and the message does not suggest mapping a header."""
    for options in (LayoutOptions(), ALIASES):
        with pytest.raises(UnknownFormatError) as refused:
            sniff_layout(GRIDS[grid], options)
        message = str(refused.value)
        assert f"NinjaTrader {grid} export" in message
        assert "not executions" in message
        assert "header_aliases" not in message


def test_an_orders_grid_stores_nothing_even_aliased(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        GRIDS["Orders"]
        + "\nMNQ 12-25,Buy,Limit,1,21000.25,0,Filled,1,21000.25,0,Entry,,,DAY,Sim101,Sim101,"
        "abc,10/31/2025 9:30:00 AM,\n"
    )
    aliased = dataclasses.replace(settings, header_aliases=dict(ALIASES.header_aliases))
    result = ImportService(engine, aliased).import_file(path, final_line_ok=True)
    assert result.status == "refused"
    assert "Orders" in result.message
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(TRADES)).scalar_one() == 0


def test_excel_unicode_text_imports(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    """Excel's "Unicode Text": UTF-16 with a BOM, TAB-separated, CRLF; an Executions grid."""
    rows = [
        "MNQ MAR25\tBuy\t1\t21539.50\t1/28/2025 10:59\te6c4685b7fa74bb6a8af5cacebc76cb7\tEntry"
        "\t1 L\t\tEntry\t$0.52\t1\tSim101\tSim",
        "MNQ MAR25\tSell\t1\t21545.25\t1/28/2025 11:04\t14a8742a4ded432980180c537a8bdf0c\tExit"
        "\t-\t\tTarget1\t$0.52\t1\tSim101\tSim",
    ]
    text = "\r\n".join([HEADER.replace(",", "\t"), *rows]) + "\r\n"
    path = tmp_path / "unicode-text.csv"
    path.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    result = ImportService(engine, settings).import_file(path, final_line_ok=True)
    assert (result.status, result.inserted, result.rejected) == ("imported", 2, 0)
    with engine.connect() as conn:
        stored = conn.execute(select(TRADES.c.price, TRADES.c.executed_at)).all()
    assert sorted(stored) == [
        (Decimal("21539.50"), datetime(2025, 1, 28, 15, 59)),
        (Decimal("21545.25"), datetime(2025, 1, 28, 16, 4)),
    ]


def test_a_tab_file_that_is_no_executions_grid_is_refused_naming_the_delimiter() -> None:
    with pytest.raises(UnknownFormatError) as refused:
        sniff_layout("Symbol\tSide\tQty\tFill price\tWhen")
    assert "separated by TAB" in str(refused.value)


COMPACT = sniff_layout(HEADER.replace(",", ";"))


def _parse(time: str, order: str | None) -> Execution | RowError:
    line = f"MNQ 12-25;Buy;1;21000.25;{time};c1;Entry;1 L;;Entry;0.62 $;1;Sim101;Feed;"
    parser = RowParser(COMPACT, order, ZoneInfo("Europe/Berlin"))  # type: ignore[arg-type]
    return parser.parse(next(split_lines([line], COMPACT)), 2, line)


def test_the_compact_ddmmyyyy_time_is_read_day_first_only() -> None:
    """'16092026 15:31:02' (one add-on, a German grid row): 16 September when the order is
    settled day-first; otherwise rejected naming date_order, never read month-first."""
    assert date_order_from_times(["16092026 15:31:02"]) == "dmy"
    assert date_order_from_times(["05092026 15:31:02"]) is None
    day_first = _parse("16092026 15:31:02", "dmy")
    assert isinstance(day_first, Execution)
    assert day_first.executed_at == datetime(2026, 9, 16, 13, 31, 2)
    for order in ("mdy", None):
        error = _parse("05092026 15:31:02", order)
        assert isinstance(error, RowError)
        assert (error.reason, "date_order" in error.detail) == ("ambiguous_date", True)


def test_an_unquoted_thousands_separator_in_the_price_is_named_as_the_price(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "grouped.csv"
    path.write_text(
        HEADER + "\nNQ JUN25,Buy,1,20,015.00,1/28/2025 10:59:52 AM,g1,Entry,1 L,,Entry,"
        "$0.00,1,Sim101,Sim,\n"
    )
    ImportService(engine, settings).import_file(path, final_line_ok=True)
    with engine.connect() as conn:
        (detail,) = conn.execute(select(REJECTIONS.c.detail)).scalars()
    assert "Price '20,015.00'" in detail
    assert "thousands separator" in detail
    assert "Quantity" not in detail
