"""Stand-in IDs come from a fill's meaning, not from how its row was written.

A spreadsheet's re-save of an export without IDs (24-hour times without seconds, prices
with or without trailing zeros, padded dates, money without its sign), another column
order or a hidden optional column must give each fill the ID it had; another zone, date
order or decimal-mark setting too (a repair finds its executions). A different fill, or a
second identical fill of the same file, gets another ID.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from csv_import_daemon.parsing.decimal_mark import DecimalMark
from csv_import_daemon.parsing.execution import Execution
from csv_import_daemon.parsing.fields import DateOrder
from csv_import_daemon.parsing.row_parser import ParseOptions, RowParser, sniff_layout
from csv_import_daemon.parsing.row_parser import split_lines as split

NEW_YORK = ZoneInfo("America/New_York")
ORIGINAL = (
    "Account,Instrument,Action,Quantity,Price,Time,E/X,Position,Name,Commission",
    [
        "Sim101,MNQ MAR25,Buy,1,16793,1/28/2025 1:10:38 PM,Entry,1 L,Entry,$0.52",
        "Sim101,MNQ MAR25,Buy,1,16793,1/28/2025 1:10:51 PM,Entry,2 L,Entry,$0.52",
        "Sim101,MNQ MAR25,Sell,2,16801.25,1/28/2025 1:12:03 PM,Exit,-,Target,$1.04",
        "Sim101,MNQ MAR25,Buy,1,16790.5,2/3/2025 9:30:00 AM,Entry,1 L,Entry,$0.52",
    ],
)
RE_SAVES = {
    "excel, 24 hours without seconds, trailing zeros": (
        ORIGINAL[0],
        [
            "Sim101,MNQ MAR25,Buy,1,16793.00,1/28/2025 13:10,Entry,1 L,Entry,0.52",
            "Sim101,MNQ MAR25,Buy,1,16793.00,1/28/2025 13:10,Entry,2 L,Entry,0.52",
            "Sim101,MNQ MAR25,Sell,2,16801.25,1/28/2025 13:12,Exit,-,Target,1.04",
            "Sim101,MNQ MAR25,Buy,1,16790.50,2/3/2025 9:30,Entry,1 L,Entry,0.52",
        ],
    ),
    "padded dates, Account moved, Position hidden": (
        "Instrument,Action,Quantity,Price,Time,E/X,Name,Commission,Account",
        [
            "MNQ MAR25,Buy,1,16793,01/28/2025 01:10:38 PM,Entry,Entry,$0.52,Sim101",
            "MNQ MAR25,Buy,1,16793,01/28/2025 01:10:51 PM,Entry,Entry,$0.52,Sim101",
            "MNQ MAR25,Sell,2,16801.25,01/28/2025 01:12:03 PM,Exit,Target,$1.04,Sim101",
            "MNQ MAR25,Buy,1,16790.5,02/03/2025 09:30:00 AM,Entry,Entry,$0.52,Sim101",
        ],
    ),
    "semicolons, decimal commas, 24 hours": (
        "Account;Instrument;Action;Quantity;Price;Time;E/X;Position;Name;Commission",
        [
            'Sim101;MNQ MAR25;Buy;1;16793,00;1/28/2025 13:10:38;Entry;1 L;Entry;"0,52 $"',
            'Sim101;MNQ MAR25;Buy;1;16793,00;1/28/2025 13:10:51;Entry;2 L;Entry;"0,52 $"',
            'Sim101;MNQ MAR25;Sell;2;16801,25;1/28/2025 13:12:03;Exit;-;Target;"1,04 $"',
            'Sim101;MNQ MAR25;Buy;1;16790,50;2/3/2025 9:30:00;Entry;1 L;Entry;"0,52 $"',
        ],
    ),
}


def ids(
    header: str,
    lines: list[str],
    order: DateOrder = "mdy",
    tz: ZoneInfo = NEW_YORK,
    mark: DecimalMark | None = None,
) -> list[str]:
    layout = sniff_layout(header)
    assert not layout.has_id
    parser = RowParser(layout, order, tz, ParseOptions(decimal_mark=mark))
    parsed = [
        parser.parse(fields, n, raw)
        for n, (fields, raw) in enumerate(zip(split(lines, layout), lines, strict=True), 2)
    ]
    assert all(isinstance(p, Execution) for p in parsed), parsed
    return [p.execution_id for p in parsed if isinstance(p, Execution)]


@pytest.mark.parametrize("name", list(RE_SAVES))
def test_a_re_saved_export_keeps_every_stand_in(name: str) -> None:
    """The same fills written otherwise: the same IDs, in the same order."""
    header, lines = RE_SAVES[name]
    original = ids(*ORIGINAL)
    assert len(set(original)) == 4  # two fills of one meaning in one minute: two IDs
    assert ids(header, lines) == original


def test_settings_a_repair_changes_keep_every_stand_in() -> None:
    """Another zone, date order or decimal mark reads other values, the same IDs."""
    header, lines = ORIGINAL
    assert ids(header, lines, tz=ZoneInfo("Europe/Berlin")) == ids(header, lines)
    # 2/3/2025 reads under both orders (3 February or 2 March): a date order repair
    both = lines[3:]
    assert ids(header, both, order="dmy", tz=ZoneInfo("Asia/Tokyo")) == ids(header, both)
    semicolons, commas = RE_SAVES["semicolons, decimal commas, 24 hours"]
    assert ids(semicolons, commas[3:], order="dmy", mark=",") == ids(header, both)


@pytest.mark.parametrize(
    "changed",
    [
        "Sim102,MNQ MAR25,Buy,1,16793,1/28/2025 1:10:38 PM,Entry,1 L,Entry,$0.52",
        "Sim101,MES MAR25,Buy,1,16793,1/28/2025 1:10:38 PM,Entry,1 L,Entry,$0.52",
        "Sim101,MNQ MAR25,Sell,1,16793,1/28/2025 1:10:38 PM,Entry,1 L,Entry,$0.52",
        "Sim101,MNQ MAR25,Buy,2,16793,1/28/2025 1:10:38 PM,Entry,1 L,Entry,$0.52",
        "Sim101,MNQ MAR25,Buy,1,16793.25,1/28/2025 1:10:38 PM,Entry,1 L,Entry,$0.52",
        "Sim101,MNQ MAR25,Buy,1,16793,1/28/2025 1:11:38 PM,Entry,1 L,Entry,$0.52",
        "Sim101,MNQ MAR25,Buy,1,16793,1/28/2025 1:10:38 AM,Entry,1 L,Entry,$0.52",
        "Sim101,MNQ MAR25,Buy,1,16793,1/29/2025 1:10:38 PM,Entry,1 L,Entry,$0.52",
    ],
)
def test_another_fill_gets_another_stand_in(changed: str) -> None:
    """Account, instrument, side, quantity, price, minute and date each tell fills apart;
    what is not the fill's meaning (E/X, Position, Name, Commission, seconds) does not."""
    header, lines = ORIGINAL
    assert ids(header, [changed]) != ids(header, lines[:1])
    same = changed.replace(":38 ", ":07 ").replace("Entry,1 L,Entry,$0.52", "Exit,-,Stop,$9")
    assert same != changed
    assert ids(header, [same]) == ids(header, [changed])


def test_a_date_is_read_as_written_whatever_the_date_order() -> None:
    """The stand-in reads a date month-first when it can ('3/2/2025': 2 March), else
    day-first ('28/1/2025'), so the date order setting never changes it, and a day above
    12 written either way round is one date."""
    header, lines = ORIGINAL
    day_first = [lines[3].replace("2/3/2025", "3/2/2025")]
    assert ids(header, day_first, order="dmy") == ids(header, day_first, order="mdy")
    late = [lines[0].replace("1/28/2025", "28/1/2025")]
    assert ids(header, late, order="dmy") == ids(header, lines[:1], order="mdy")
