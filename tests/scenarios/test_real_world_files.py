"""Traps found in genuine NinjaTrader files: each rule tested on a file with that trait.

Files are written here from the formats document's descriptions (no file of another
project is copied): UK grid exports whose days are all <= 12, ';' files with decimal
points, Excel-mangled IDs, hidden Account columns, localized headers, extra columns, and a
wrong first import repaired in place by ``--reread --replace``.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, Table, delete, select
from structlog.testing import capture_logs

from csv_import_daemon.config.settings import Settings, load_settings
from csv_import_daemon.db.tables import FILES, REJECTIONS, TRADES
from csv_import_daemon.errors import ConfigError
from csv_import_daemon.files.names import path_key
from csv_import_daemon.importing.service import ImportService
from csv_import_daemon.parsing.row_parser import Execution, RowParser, sniff_layout, split_lines
from csv_import_daemon.reports.status import collect_status, render_status
from support.rows import HEADER, grid_line, write_lines

SEMI_HEADER = HEADER.replace(",", ";")
# A UK grid export with the ID column hidden: every day <= 12, so the order is open.
UK_NO_ID = "Instrument,Action,Quantity,Price,Time,E/X,Position,Name,Commission,Account,"
UK_ROWS = [
    "MNQ 09-26,Buy,1,29783.25,10/08/2026 6:07:25 PM,Exit,-,Stop4,$0.00,TAKEPROFIT1,",
    "MNQ 09-26,Buy,1,29783.25,10/08/2026 6:07:25 PM,Exit,1 S,Stop3,$0.00,TAKEPROFIT1,",
    "MNQ 09-26,Sell,2,29767.00,03/08/2026 2:31:07 PM,Entry,2 S,Entry,$0.00,TAKEPROFIT1,",
]


def write(path: Path, header: str, lines: list[str], newline: str = "\r\n") -> Path:
    return write_lines(path, lines, header=header, newline=newline)


def grid_row(execution_id: str, **columns: Any) -> str:
    """A long fill with a commission, in the HEADER layout (``sep=";"``: semicolons)."""
    columns = {"position": "1 L", "commission": "$0.52", **columns}
    return grid_line(execution_id=execution_id, **columns)


def trades(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        return {r["execution_id"]: dict(r) for r in conn.execute(select(TRADES)).mappings()}


def rejections(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        query = select(REJECTIONS).order_by(REJECTIONS.c.line, REJECTIONS.c.id)
        return [dict(r) for r in conn.execute(query).mappings()]


def corrections(engine: Engine) -> list[dict[str, Any]]:
    # Reflected, not imported: the table's columns are part of what is tested.
    table = Table("trade_corrections", MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        query = select(table).order_by(table.c.execution_id, table.c.field)
        return [dict(r) for r in conn.execute(query).mappings()]


def checkpoint(engine: Engine, path: Path) -> dict[str, Any]:
    with engine.connect() as conn:
        found = conn.execute(select(FILES).where(FILES.c.path == path_key(path))).mappings()
        return dict(found.one())


def service_with(engine: Engine, settings: Settings, **changes: Any) -> ImportService:
    return ImportService(engine, dataclasses.replace(settings, **changes))


# -- 1. date order from all the evidence ---------------------------------------------------


def test_grid_export_moment_in_the_name_settles_a_day_first_file(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """'10/08/2026 6:07 PM' in 'NinjaTrader Grid 2026-08-10 06-10 PM.csv' is 10 August."""
    path = write(tmp_path / "NinjaTrader Grid 2026-08-10 06-10 PM.csv", UK_NO_ID, UK_ROWS)
    result = ImportService(engine, settings).import_file(path, final_line_ok=True)
    assert result.inserted == 3
    times = sorted(t["executed_at"] for t in trades(engine).values())
    assert times == [datetime(2026, 8, 3, 18, 31, 7)] + [datetime(2026, 8, 10, 22, 7, 25)] * 2
    assert (
        checkpoint(engine, path)["date_order"],
        checkpoint(engine, path)["date_order_source"],
    ) == (
        "dmy",
        "name",
    )


def test_the_daily_file_name_settles_every_row_not_only_the_first(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """In NinjaTrader_Executions_20260803 '03/08/2026' is 3 August (session date)."""
    path = write(tmp_path / "NinjaTrader_Executions_20260803.csv", UK_NO_ID, UK_ROWS[2:])
    ImportService(engine, settings).import_file(path, final_line_ok=True)
    assert [t["executed_at"] for t in trades(engine).values()] == [datetime(2026, 8, 3, 18, 31, 7)]


@pytest.mark.parametrize("sibling_first", [True, False])
def test_another_file_of_the_folder_settles_the_order(
    engine: Engine, settings: Settings, tmp_path: Path, sibling_first: bool
) -> None:
    """A day above 12 in any file of the folder settles an ambiguous file, in any order."""
    folder = tmp_path / "exports"
    folder.mkdir()
    ambiguous = write(folder / "uk-early-august.csv", UK_NO_ID, UK_ROWS)
    sibling = write(
        folder / "uk-late-july.csv",
        UK_NO_ID,
        ["MNQ 09-26,Buy,1,29000.00,28/07/2026 9:00:00 AM,Entry,1 L,Entry,$0.00,TAKEPROFIT1,"],
    )
    service = ImportService(engine, settings)
    for path in (sibling, ambiguous) if sibling_first else (ambiguous, sibling):
        service.import_file(path, final_line_ok=True)
    assert checkpoint(engine, ambiguous)["date_order"] == "dmy"
    assert checkpoint(engine, ambiguous)["date_order_source"] == "folder"
    assert datetime(2026, 8, 10, 22, 7, 25) in {t["executed_at"] for t in trades(engine).values()}


def test_a_sibling_that_arrives_later_settles_the_next_file(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """The folder's listing is remembered between files only while the folder is unchanged:
    a file written after the first import is evidence for the next one."""
    folder = tmp_path / "exports"
    folder.mkdir()
    service = ImportService(engine, settings)
    first = write(folder / "uk-early-august.csv", UK_NO_ID, UK_ROWS)
    service.import_file(first, final_line_ok=True)
    assert checkpoint(engine, first)["date_order_source"] == "unsettled"
    write(
        folder / "uk-late-july.csv",
        UK_NO_ID,
        ["MNQ 09-26,Buy,1,29000.00,28/07/2026 9:00:00 AM,Entry,1 L,Entry,$0.00,TAKEPROFIT1,"],
    )
    later = write(folder / "uk-early-august-2.csv", UK_NO_ID, UK_ROWS[:1])
    service.import_file(later, final_line_ok=True)
    assert checkpoint(engine, later)["date_order_source"] == "folder"


@pytest.mark.parametrize("name", ["~uk-late-july.csv", "~$uk-late-july.csv", ".uk-late-july.csv"])
def test_a_file_the_watcher_ignores_settles_no_order(
    engine: Engine, settings: Settings, tmp_path: Path, name: str
) -> None:
    """Folder evidence comes only from files the daemon would import: an editor's
    temporary copy ('~name.csv') is not one, so the order stays open."""
    folder = tmp_path / "exports"
    folder.mkdir()
    ambiguous = write(folder / "uk-early-august.csv", UK_NO_ID, UK_ROWS)
    write(
        folder / name,
        UK_NO_ID,
        ["MNQ 09-26,Buy,1,29000.00,28/07/2026 9:00:00 AM,Entry,1 L,Entry,$0.00,TAKEPROFIT1,"],
    )
    ImportService(engine, settings).import_file(ambiguous, final_line_ok=True)
    assert checkpoint(engine, ambiguous)["date_order_source"] == "unsettled"
    assert {r["reason"] for r in rejections(engine)} == {"ambiguous_date"}


def test_a_file_settled_by_the_setting_alone_is_shown_by_status(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """No evidence anywhere: date_order (set) decides, status says so and how to repair it."""
    path = write(tmp_path / "export.csv", UK_NO_ID, UK_ROWS)
    service_with(engine, settings, date_order="mdy").import_file(path, final_line_ok=True)
    assert checkpoint(engine, path)["date_order_source"] == "setting"
    text = render_status(collect_status(engine))
    assert "unsettled" in text
    assert "--reread --replace" in text


def test_date_order_unsettled_is_logged_once_per_file(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """The warning comes with the first read of the file, not with appends or re-reads."""
    path = write(tmp_path / "export.csv", UK_NO_ID, UK_ROWS[:1])
    service = ImportService(engine, settings)
    with capture_logs() as logs:
        service.import_file(path, final_line_ok=True)
        with open(path, "ab") as f:
            f.write((UK_ROWS[2] + "\r\n").encode())
        service.import_file(path, final_line_ok=True)
        service.import_file(path, reread=True, final_line_ok=True)
    unsettled = [e for e in logs if e["event"] == "date_order_unsettled"]
    assert len(unsettled) == 1
    assert unsettled[0]["log_level"] == "warning"
    assert unsettled[0]["file"] == path_key(path)


# -- 2. the decimal mark is a property of the file -----------------------------------------


def test_semicolon_file_with_decimal_points_is_read_exactly(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """';' with '1.08345' elsewhere: ZN '110.125' is 110.125 and '2.220' is 2.220."""
    path = write(
        tmp_path / "swiss.csv",
        SEMI_HEADER,
        [
            grid_row("Z1", price="110.125", commission="2.220", sep=";", time="28/01/2025 15:00"),
            grid_row(
                "Z2", price="1.08345", commission="CHF 2.05", sep=";", time="28/01/2025 15:01"
            ),
        ],
    )
    result = ImportService(engine, settings).import_file(path, final_line_ok=True)
    assert (result.inserted, result.rejected) == (2, 0)
    stored = trades(engine)
    assert (stored["Z1"]["price"], stored["Z1"]["commission"]) == (
        Decimal("110.125"),
        Decimal("2.220"),
    )
    assert (stored["Z2"]["price"], stored["Z2"]["commission"]) == (
        Decimal("1.08345"),
        Decimal("2.05"),
    )
    assert checkpoint(engine, path)["decimal_mark"] == "."


def test_unsettled_decimal_mark_rejects_the_rows_that_depend_on_it(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Only '110.125'-like values: ambiguous_decimal naming decimal_mark; then the setting
    decides and the file is read again without --reread."""
    path = write(
        tmp_path / "zn.csv",
        SEMI_HEADER,
        [
            grid_row("Z1", price="110.125", commission="2.220", sep=";", time="28/01/2025 15:00"),
            grid_row("Z2", price="110", commission="2", sep=";", time="28/01/2025 15:01"),
        ],
    )
    first = ImportService(engine, settings).import_file(path, final_line_ok=True)
    assert (first.inserted, first.rejected) == (1, 1)
    (rejection,) = rejections(engine)
    assert rejection["reason"] == "ambiguous_decimal"
    assert "decimal_mark" in rejection["detail"]

    unchanged = ImportService(engine, settings).import_file(path, final_line_ok=True)
    assert unchanged.status == "unchanged"
    again = service_with(engine, settings, decimal_mark=".").import_file(path, final_line_ok=True)
    assert (again.inserted, again.duplicates) == (1, 1)
    assert trades(engine)["Z1"]["price"] == Decimal("110.125")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2,05 €", "2.05"),
        ("2,05€", "2.05"),
        ("€ 2,05", "2.05"),
        ("£0.52", "0.52"),
        ("£ 0.52", "0.52"),
        ("CHF 2.05", "2.05"),
        ("CHF2.05", "2.05"),
        ("2.05 CHF", "2.05"),
        ("JPY 52", "52"),
        ("-$ 2,00", "-2.00"),
    ],
)
def test_commission_in_any_currency_format(text: str, value: str) -> None:
    """Symbols before or after, with or without a space: $, €, £, CHF, JPY ("¥" names
    two currencies, JPY and CNY: kept as written, see tests/unit/parsing)."""
    layout = sniff_layout(SEMI_HEADER)
    line = grid_row("C1", price="7200,75", commission=text, sep=";", time="28/01/2025 15:00")
    parsed = RowParser(layout, "dmy", datetime.now().astimezone().tzinfo).parse(  # type: ignore[arg-type]
        next(split_lines([line], layout)), 2, line
    )
    assert isinstance(parsed, Execution), parsed
    assert parsed.commission == Decimal(value)


# -- 3. damaged files are rejected, not imported ------------------------------------------


def test_ids_rounded_by_excel_are_mangled_id_never_conflicts(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """'1.58013E+11' (and '1,58013E+11') is mangled_id; the intact row imports."""
    comma = tmp_path / "excel-semicolon.csv"
    write(
        comma,
        SEMI_HEADER,
        [grid_row("1,58013E+11", sep=";", price="7200,75", time="28/01/2025 15:00")],
    )
    path = write(
        tmp_path / "excel.csv",
        HEADER,
        [
            grid_row("1.58013E+11"),
            grid_row("1.58013E+11", price="21540.00"),
            grid_row("158012701257"),
        ],
    )
    service = ImportService(engine, settings)
    result = service.import_file(path, final_line_ok=True)
    other = service.import_file(comma, final_line_ok=True)
    assert (result.inserted, result.rejected, result.conflicts) == (1, 2, 0)
    assert (other.inserted, other.rejected, other.conflicts) == (0, 1, 0)
    reasons = [r["reason"] for r in rejections(engine)]
    assert reasons == ["mangled_id"] * 3
    assert "export the file from NinjaTrader again" in rejections(engine)[0]["detail"]
    assert set(trades(engine)) == {"158012701257"}


def test_unquoted_decimal_comma_in_a_comma_file_says_so(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """'21000,25' unquoted in a ',' file shifts the row: the detail names the cause."""
    path = write(tmp_path / "addon.csv", HEADER, [grid_row("S1", price="21000,25")])
    ImportService(engine, settings).import_file(path, final_line_ok=True)
    (rejection,) = rejections(engine)
    assert rejection["reason"] == "field_count"
    assert "decimal comma" in rejection["detail"]
    assert "'21000,25'" in rejection["detail"]


# -- 4. columns -----------------------------------------------------------------------------


def test_ex_header_is_entry_exit(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    """An 'Ex.' header is the E/X column."""
    path = write(tmp_path / "ex.csv", HEADER.replace("E/X", "Ex."), [grid_row("X1")])
    ImportService(engine, settings).import_file(path, final_line_ok=True)
    assert trades(engine)["X1"]["entry_exit"] == "Entry"


GERMAN = "Instrument;Aktion;Menge;Preis;Zeit;Ausführungs-ID;Ein/Aus;Konto;Provision"


def test_localized_export_imports_with_the_alias_tables(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Without aliases the refusal lists columns and lacking fields; with them it imports."""
    path = write(
        tmp_path / "de.csv",
        GERMAN,
        ["MES JUN26;Kauf;1;7200,75;27/04/2026 6:05:02;D1;Eröffnung;Sim101;0,62 €"],
    )
    refused = ImportService(engine, settings).import_file(path, final_line_ok=True)
    assert refused.status == "refused"
    assert "'Aktion'" in refused.message
    assert "Action" in refused.message
    assert "header_aliases" in refused.message

    localized = service_with(
        engine,
        settings,
        header_aliases={
            "aktion": "action",
            "menge": "quantity",
            "preis": "price",
            "zeit": "time",
            "ausführungs-id": "execution_id",
            "ein/aus": "entry_exit",
            "konto": "account",
            "provision": "commission",
        },
        action_aliases={"kauf": "Buy"},
        entry_exit_aliases={"eröffnung": "Entry"},
    )
    result = localized.import_file(path, final_line_ok=True)  # settings changed: read again
    assert result.inserted == 1
    stored = trades(engine)["D1"]
    assert (stored["action"], stored["entry_exit"], stored["price"], stored["commission"]) == (
        "Buy",
        "Entry",
        Decimal("7200.75"),
        Decimal("0.62"),
    )


def test_an_unknown_action_word_is_rejected_then_read_again_once_aliased(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """An action no side can be read from is rejected naming action_aliases, never stored as
    written; once the setting maps it, the file is read again without --reread."""
    line = grid_row("K1").replace(",Buy,", ",Kauf,")
    path = write(tmp_path / "de.csv", HEADER, [line])
    first = ImportService(engine, settings).import_file(path, final_line_ok=True)
    assert (first.inserted, first.rejected) == (0, 1)
    [rejection] = rejections(engine)
    assert rejection["reason"] == "unknown_action"
    assert "action_aliases" in rejection["detail"]
    aliased = service_with(engine, settings, action_aliases={"kauf": "Buy"})
    again = aliased.import_file(path, final_line_ok=True)
    assert again.inserted == 1
    assert trades(engine)["K1"]["action"] == "Buy"


def test_an_unknown_entry_exit_word_is_rejected_then_read_again_once_aliased(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """An E/X value that is neither Entry nor Exit (two writers spliced a line: "EnExit") is
    rejected naming entry_exit_aliases, never stored as written; "E", "x", "ENTRY" and a
    blank are read; once the setting maps the word, the file is read again."""
    spliced = grid_row("S1").replace(",1 L,", ",,").replace(",Entry,", ",EnExit,", 1)
    known = [
        grid_row(f"K{i}").replace(",Entry,", f",{word},", 1)
        for i, word in enumerate(("E", "x", "ENTRY", ""))
    ]
    path = write(tmp_path / "spliced.csv", HEADER, [spliced, *known])
    first = ImportService(engine, settings).import_file(path, final_line_ok=True)
    assert (first.inserted, first.rejected) == (4, 1)
    [rejection] = rejections(engine)
    assert rejection["reason"] == "unknown_entry_exit"
    assert "'EnExit'" in rejection["detail"]
    assert "entry_exit_aliases" in rejection["detail"]
    stored = trades(engine)
    assert [stored[f"K{i}"]["entry_exit"] for i in range(4)] == ["Entry", "Exit", "Entry", None]
    aliased = service_with(engine, settings, entry_exit_aliases={"enexit": "Exit"})
    again = aliased.import_file(path, final_line_ok=True)
    assert again.inserted == 1
    assert trades(engine)["S1"]["entry_exit"] == "Exit"


def test_alias_tables_are_validated_saying_what_is_allowed(tmp_path: Path) -> None:
    """A target that is no field, action or E/X word is a configuration error."""
    config = tmp_path / "config.toml"
    for table, bad, allowed in (
        ("header_aliases", "acount", "execution_id"),
        ("action_aliases", "Purchase", "BuyToCover"),
        ("entry_exit_aliases", "Open", "Entry"),
    ):
        config.write_text(f'[{table}]\n"Wort" = "{bad}"\n', encoding="utf-8")
        with pytest.raises(ConfigError, match=allowed) as info:
            load_settings({}, environ={}, config_file=config)
        assert table in str(info.value)
    config.write_text('default_account = "Sim101"\ndecimal_mark = ","\n', encoding="utf-8")
    loaded = load_settings({}, environ={}, config_file=config)
    assert (loaded.default_account, loaded.decimal_mark) == ("Sim101", ",")
    with pytest.raises(ConfigError, match="auto"):
        load_settings({"decimal_mark": ";"}, environ={})


def test_file_without_account_column_uses_default_account(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Refused naming default_account; imported under it once it is set (no --reread)."""
    header = HEADER.replace("Account,", "")
    line = grid_row("A1").replace("Sim101,", "")
    path = write(tmp_path / "single-account.csv", header, [line])
    refused = ImportService(engine, settings).import_file(path, final_line_ok=True)
    assert refused.status == "refused"
    assert "default_account" in refused.message
    result = service_with(engine, settings, default_account="Sim101").import_file(
        path, final_line_ok=True
    )
    assert result.inserted == 1
    assert trades(engine)["A1"]["account"] == "Sim101"


# -- 5. nothing in a row is dropped -------------------------------------------------------


def test_unmapped_columns_are_kept_in_trades_extra(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """TradeValidation (and Rate) are stored per trade as JSON: header -> value."""
    header = HEADER.rstrip(",") + ",TradeValidation"
    rows = [grid_row("V1") + "Valid", grid_row("V2")]
    path = write(tmp_path / "NinjaTrader_Executions_20250128.csv", header, rows)
    ImportService(engine, settings).import_file(path, final_line_ok=True)
    stored = trades(engine)
    assert json.loads(stored["V1"]["extra"]) == {"Rate": "1", "TradeValidation": "Valid"}
    assert json.loads(stored["V2"]["extra"]) == {"Rate": "1"}


# -- 7. stand-in IDs do not depend on settings ---------------------------------------------


def test_stand_in_ids_are_the_same_under_another_zone_and_date_order(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """A no-ID file read again under other settings finds its executions: nothing added."""
    path = write(tmp_path / "export.csv", UK_NO_ID, UK_ROWS)
    service_with(engine, settings, date_order="mdy").import_file(path, final_line_ok=True)
    other = service_with(engine, settings, source_timezone="Europe/London", date_order="dmy")
    again = other.import_file(path, reread=True, final_line_ok=True)
    assert (again.inserted, again.duplicates + again.conflicts) == (0, 3)
    assert len(trades(engine)) == 3


# -- 8. the repair path ---------------------------------------------------------------------


@pytest.mark.parametrize("with_ids", [True, False])
def test_reread_replace_repairs_a_wrong_zone_and_date_order(
    engine: Engine, settings: Settings, tmp_path: Path, with_ids: bool
) -> None:
    """Imported month-first in New York (date_order set wrong); re-read day-first in London
    with --replace: fixed in place, old values in trade_corrections, and a deleted trade
    stays deleted."""
    if with_ids:
        header, rows = (
            HEADER,
            [
                grid_row("R1", time="10/08/2026 6:07:25 PM"),
                grid_row("R2", time="03/08/2026 2:31:07 PM", price="21540.00"),
                grid_row("R3", time="04/08/2026 9:00:00 AM", price="21541.00"),
            ],
        )
    else:
        header, rows = UK_NO_ID, [*UK_ROWS[:1], *UK_ROWS[2:], UK_ROWS[2].replace("2:31", "2:32")]
    path = write(tmp_path / "export.csv", header, rows)
    service_with(engine, settings, date_order="mdy").import_file(path, final_line_ok=True)
    wrong = trades(engine)
    assert len(wrong) == 3
    deleted = sorted(wrong)[0]
    with engine.begin() as conn:
        conn.execute(delete(TRADES).where(TRADES.c.execution_id == deleted))

    fixed = service_with(engine, settings, source_timezone="Europe/London", date_order="dmy")
    result = fixed.import_file(path, reread=True, replace=True, final_line_ok=True)
    assert (result.inserted, result.replaced, result.conflicts) == (0, 2, 0)
    after = trades(engine)
    assert deleted not in after
    assert set(after) == set(wrong) - {deleted}
    for execution_id, trade in after.items():
        assert trade["executed_at"].month == 8  # 3, 4 or 10 August, London time
        assert trade["executed_at"] != wrong[execution_id]["executed_at"]
    kept = corrections(engine)
    assert {c["execution_id"] for c in kept} == set(after)
    assert {c["field"] for c in kept} == {"executed_at"}
    for c in kept:
        assert c["old_value"] == wrong[c["execution_id"]]["executed_at"].isoformat(" ")
        assert c["new_value"] == after[c["execution_id"]]["executed_at"].isoformat(" ")
        assert c["source_file"] == path_key(path)

    plain = fixed.import_file(path, reread=True, final_line_ok=True)
    assert (plain.replaced, plain.conflicts, plain.duplicates) == (0, 0, 3)


def test_reread_replace_of_an_id_repeated_in_the_file_records_no_conflict(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """A repeated line is compared with the reading that replaced the stored row, not with
    the row as it was before: no conflict, nothing in import_rejections."""
    line = grid_row("R1", time="1/28/2025 10:59:52 AM")
    path = write(tmp_path / "export.csv", HEADER, [line, line])
    ImportService(engine, settings).import_file(path, final_line_ok=True)
    fixed = service_with(engine, settings, source_timezone="UTC")
    result = fixed.import_file(path, reread=True, replace=True, final_line_ok=True)
    assert (result.replaced, result.conflicts, result.duplicates) == (1, 0, 1)
    assert rejections(engine) == []


def test_reread_without_replace_keeps_differing_content_a_conflict(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Without --replace the stored row wins, as before."""
    path = write(tmp_path / "export.csv", HEADER, [grid_row("R1", time="10/08/2026 6:07:25 PM")])
    service_with(engine, settings, date_order="mdy").import_file(path, final_line_ok=True)
    again = service_with(engine, settings, date_order="dmy").import_file(
        path, reread=True, final_line_ok=True
    )
    assert (again.conflicts, again.replaced) == (1, 0)
    assert corrections(engine) == []


def test_reread_replace_repairs_a_wrong_decimal_mark(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """110.125 stored as 110125 under decimal_mark ',' is put right under '.'."""
    path = write(
        tmp_path / "zn.csv",
        SEMI_HEADER,
        [grid_row("Z1", price="110.125", commission="2.220", sep=";", time="28/01/2025 15:00")],
    )
    service_with(engine, settings, decimal_mark=",").import_file(path, final_line_ok=True)
    assert trades(engine)["Z1"]["price"] == Decimal("110125")
    result = service_with(engine, settings, decimal_mark=".").import_file(
        path, reread=True, replace=True, final_line_ok=True
    )
    assert result.replaced == 1
    stored = trades(engine)["Z1"]
    assert (stored["price"], stored["commission"]) == (Decimal("110.125"), Decimal("2.220"))
    assert {c["field"]: c["old_value"] for c in corrections(engine)} == {
        "price": "110125" if "sqlite" in str(engine.url) else "110125.00000000",
        "commission": "2220" if "sqlite" in str(engine.url) else "2220.00000000",
    }


def test_cli_reread_replace_counts_replaced(database_url: str, tmp_path: Path) -> None:
    """`import --reread --replace` prints replaced=N; --replace alone is a usage error."""
    path = write(tmp_path / "export.csv", UK_NO_ID, UK_ROWS)
    base = [sys.executable, "-m", "csv_import_daemon", "import", "--database", database_url]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *args, str(path)], capture_output=True, text=True, timeout=120, check=False
        )

    assert run("--source-timezone", "America/New_York", "--date-order", "mdy").returncode == 0
    usage = run("--replace")
    assert usage.returncode == 2
    assert "--reread" in usage.stderr
    repaired = run("--reread", "--replace", "--date-order", "dmy", "--source-timezone", "UTC")
    assert repaired.returncode == 0, repaired.stderr
    assert "replaced=3" in repaired.stdout
    assert '"replaced": 3' in repaired.stderr
