"""A date is never stored on a guess: evidence from the whole file, its name, its producer and
the grid exports beside it; rows nothing settles wait as ambiguous_date and are read again
by themselves when evidence arrives (another export, an appended line, the setting)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from structlog.testing import capture_logs

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db.tables import FILES, REJECTIONS, TRADES
from csv_import_daemon.files.names import path_key
from csv_import_daemon.importing.conventions import HEAD_SAMPLE, TAIL_SAMPLE
from csv_import_daemon.importing.service import ImportService
from csv_import_daemon.reports.status import collect_status, render_status

# A UK grid export with the ID column hidden (stand-in IDs), 12-hour clock.
UK = "Instrument,Action,Quantity,Price,Time,E/X,Position,Name,Commission,Account,"
ADDON = (
    "Instrument,Action,Quantity,Price,Time,ID,E/X,Position,Order ID,Name,Commission,Rate,"
    "Account,Connection,TradeValidation"
)


def uk_row(time: str, price: str = "29783.25", name: str = "Entry") -> str:
    return f"MNQ 09-26,Buy,1,{price},{time},Entry,-,{name},$0.00,UK1,"


def addon_row(execution_id: str, time: str) -> str:
    return (
        f"MNQ 09-26,Buy,1,21482.50,{time},{execution_id},Entry,1 L,,Entry,$0.52,1,UK1,Rithmic,Valid"
    )


def write(path: Path, header: str, lines: list[str]) -> Path:
    path.write_bytes(("\r\n".join([header, *lines]) + "\r\n").encode())
    return path


def stored_times(engine: Engine, path: Path | None = None) -> list[datetime]:
    query = select(TRADES.c.executed_at)
    if path is not None:
        query = query.where(TRADES.c.source_file == path_key(path))
    with engine.connect() as conn:
        return sorted(conn.execute(query).scalars())


def reasons(engine: Engine, path: Path) -> list[str]:
    query = select(REJECTIONS.c.reason).where(REJECTIONS.c.source_file == path_key(path))
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def checkpoint(engine: Engine, path: Path) -> dict[str, Any]:
    with engine.connect() as conn:
        found = conn.execute(select(FILES).where(FILES.c.path == path_key(path))).mappings()
        return dict(found.one())


def early_august(folder: Path, name: str = "uk-early-august.csv") -> Path:
    """3 and 4 August 2026, day-first: every day <= 12."""
    return write(
        folder / name,
        UK,
        [uk_row("03/08/2026 2:31:07 PM"), uk_row("04/08/2026 9:00:00 AM", price="29790.00")],
    )


# 3 and 4 August, 14:31:07 and 09:00 London (the settings' zone is New York: +4 h)
AUGUST = [datetime(2026, 8, 3, 18, 31, 7), datetime(2026, 8, 4, 13, 0, 0)]


def test_a_day_above_12_past_the_head_and_tail_windows_settles_the_file(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """A busy day-first export whose head and tail hold only days <= 12: the rest of the
    file is scanned for its first unambiguous date, and every row is read day-first."""
    row = uk_row("03/08/2026 2:31:07 PM")
    per_window = (HEAD_SAMPLE + TAIL_SAMPLE) // len(row) + 100
    lines = [uk_row("03/08/2026 2:31:07 PM", name=f"h{i}") for i in range(per_window)]
    lines.append(uk_row("13/08/2026 9:00:00 AM", name="middle"))
    lines += [uk_row("04/08/2026 9:00:00 AM", name=f"t{i}") for i in range(per_window)]
    path = write(tmp_path / "busy.csv", UK, lines)

    result = ImportService(engine, settings).import_file(path, final_line_ok=True)

    assert (result.inserted, result.rejected) == (len(lines), 0)
    times = stored_times(engine)
    assert {t.date().isoformat() for t in times} == {"2026-08-03", "2026-08-04", "2026-08-13"}
    assert checkpoint(engine, path)["date_order_source"] == "content"


def test_rows_nothing_settles_wait_as_ambiguous_date(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """date_order = auto and no evidence: a date that reads both ways is rejected, naming
    date_order; one that reads one way only (8 August either way) is stored."""
    path = write(
        tmp_path / "export.csv",
        UK,
        [uk_row("03/08/2026 2:31:07 PM"), uk_row("08/08/2026 9:00:00 AM", price="29790.00")],
    )
    result = ImportService(engine, settings).import_file(path, final_line_ok=True)
    assert (result.inserted, result.rejected) == (1, 1)
    assert stored_times(engine) == [datetime(2026, 8, 8, 13, 0, 0)]
    assert reasons(engine, path) == ["ambiguous_date"]
    cp = checkpoint(engine, path)
    assert (cp["date_order"], cp["date_order_source"]) == (None, "unsettled")


def test_held_back_rows_are_read_when_another_export_of_the_folder_arrives(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """A later grid export with 28/07 settles the folder: the earlier file's held-back rows
    are named in the result (the daemon and `import` queue them) and read day-first."""
    service = ImportService(engine, settings)
    waiting = early_august(tmp_path)
    assert service.import_file(waiting, final_line_ok=True).rejected == 2
    assert stored_times(engine) == []

    late_july = write(tmp_path / "uk-late-july.csv", UK, [uk_row("28/07/2026 9:00:00 AM")])
    settling = service.import_file(late_july, final_line_ok=True)
    assert settling.settles == (waiting,)

    again = service.import_file(waiting, final_line_ok=True)  # unchanged, read again
    assert (again.inserted, again.rejected) == (2, 0)
    assert stored_times(engine, waiting) == AUGUST
    assert checkpoint(engine, waiting)["date_order_source"] == "folder"


def test_held_back_rows_are_read_when_date_order_is_set(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Setting date_order reads the held-back rows again, without --reread."""
    path = early_august(tmp_path)
    ImportService(engine, settings).import_file(path, final_line_ok=True)
    uk = ImportService(engine, dataclasses.replace(settings, date_order="dmy"))
    result = uk.import_file(path, final_line_ok=True)
    assert (result.status, result.inserted) == ("imported", 2)
    assert stored_times(engine) == AUGUST


def test_an_appended_line_that_settles_the_order_reads_the_held_back_rows(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """A file being written: its first lines wait, a later 13/08 settles it day-first, and
    the rows held back before are stored too."""
    service = ImportService(engine, settings)
    path = early_august(tmp_path)
    service.import_file(path, final_line_ok=True)
    with open(path, "ab") as f:
        f.write((uk_row("13/08/2026 9:00:00 AM", price="29800.00") + "\r\n").encode())
    result = service.import_file(path, final_line_ok=True)
    assert result.inserted == 3
    assert stored_times(engine) == [*AUGUST, datetime(2026, 8, 13, 13, 0, 0)]
    assert checkpoint(engine, path)["date_order_source"] == "content"


def test_an_addon_file_is_no_evidence_for_the_grid_exports_beside_it(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """The add-on writes month-first on a UK PC too: its 8/13/2026 says nothing about the
    grid exports, whose rows wait rather than being read month-first."""
    addon = write(
        tmp_path / "NinjaTrader_Executions_20260813.csv",
        ADDON,
        [addon_row("A1", "8/13/2026 9:30:15 AM")],
    )
    grid = early_august(tmp_path)
    service = ImportService(engine, settings)
    service.import_file(addon, final_line_ok=True)
    result = service.import_file(grid, final_line_ok=True)
    assert (result.inserted, result.rejected) == (0, 2)
    assert reasons(engine, grid) == ["ambiguous_date", "ambiguous_date"]
    assert stored_times(engine) == [datetime(2026, 8, 13, 13, 30, 15)]


def test_the_addon_is_month_first_whatever_date_order_says(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """A UK user sets date_order = dmy; the add-on still writes month-first, and its file
    may hold Monday's first fill under Friday's name (write, then rotate)."""
    path = write(
        tmp_path / "NinjaTrader_Executions_20260807.csv",
        ADDON,
        [addon_row("A1", "8/7/2026 9:30:15 AM"), addon_row("A2", "8/10/2026 9:30:00 AM")],
    )
    uk = ImportService(engine, dataclasses.replace(settings, date_order="dmy"))
    assert uk.import_file(path, final_line_ok=True).inserted == 2
    assert stored_times(engine) == [datetime(2026, 8, 7, 13, 30, 15), datetime(2026, 8, 10, 13, 30)]
    assert checkpoint(engine, path)["date_order_source"] == "name"


def test_a_header_only_addon_file_logs_nothing_unsettled(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """The add-on creates its daily file at the session start: its name settles the order,
    so an empty day is no warning; its first fill is month-first."""
    path = write(tmp_path / "NinjaTrader_Executions_20260803.csv", ADDON, [])
    service = ImportService(engine, settings)
    with capture_logs() as logs:
        service.import_file(path, final_line_ok=True)
    assert [e for e in logs if e["event"] == "date_order_unsettled"] == []
    with open(path, "ab") as f:
        f.write((addon_row("A1", "8/3/2026 9:30:15 AM") + "\r\n").encode())
    assert service.import_file(path, final_line_ok=True).inserted == 1
    assert stored_times(engine) == [datetime(2026, 8, 3, 13, 30, 15)]


def test_status_shows_a_file_whose_rows_wait_for_their_date_order(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    path = early_august(tmp_path)
    ImportService(engine, settings).import_file(path, final_line_ok=True)
    report = collect_status(engine)
    (entry,) = [f for f in report["files"] if f["path"] == path_key(path)]
    assert (entry["date_order"], entry["date_order_source"]) == (None, "unsettled")
    text = render_status(report)
    assert "date order unsettled" in text
    assert "ambiguous_date" in text


def test_a_spreadsheets_re_save_of_an_addon_file_is_not_read_month_first(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """The add-on's file of 4 March saved over by a UK spreadsheet ('05/03/2026 13:10',
    5 March, or 3 May month-first; both after the name's date): no longer in the add-on's
    pattern, so its producer does not settle the order, and with nothing else the row
    waits as ambiguous_date instead of being stored on 3 May."""
    path = write(
        tmp_path / "NinjaTrader_Executions_20260304.csv",
        ADDON,
        [addon_row("A1", "05/03/2026 13:10")],
    )
    result = ImportService(engine, settings).import_file(path, final_line_ok=True)
    assert (result.inserted, result.rejected) == (0, 1)
    assert reasons(engine, path) == ["ambiguous_date"]
