"""A UK trader's folder: day-first grid exports of the first days of a month (every day
<= 12), one exporter add-on file among them (month-first on every PC). Every fill is stored
on its true date or rejected naming date_order; nothing is stored on a guessed date. Run
through the `import` command and the daemon, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from csv_import_daemon.db.tables import REJECTIONS, TRADES
from support.daemon import start_daemon
from support.processes import CLI, clean_env

UK = (
    "Instrument,Action,Quantity,Price,Time,ID,E/X,Position,Order ID,Name,Commission,Rate,"
    "Account,Connection,"
)
ADDON = (
    "Instrument,Action,Quantity,Price,Time,ID,E/X,Position,Order ID,Name,Commission,Rate,"
    "Account,Connection,TradeValidation"
)
# execution ID -> (time as the file writes it, the true moment in UTC from London, BST)
GRID_EARLY = {  # exported on 5 August at 6:10 PM: March, April and May fit the name too
    "g1": ("03/08/2026 2:31:07 PM", datetime(2026, 8, 3, 13, 31, 7)),
    "g2": ("04/08/2026 9:00:00 AM", datetime(2026, 8, 4, 8, 0, 0)),
    "g3": ("05/08/2026 10:15:00 AM", datetime(2026, 8, 5, 9, 15, 0)),
}
GRID_RENAMED = {  # a renamed export: its name says nothing
    "r1": ("06/08/2026 9:45:00 AM", datetime(2026, 8, 6, 8, 45, 0)),
    "r2": ("07/08/2026 3:05:00 PM", datetime(2026, 8, 7, 14, 5, 0)),
}
ADDON_ROWS = {  # month-first whatever the PC; Monday's first fill in Friday's file
    "a1": ("8/7/2026 9:30:15 AM", datetime(2026, 8, 7, 8, 30, 15)),
    "a2": ("8/10/2026 8:01:00 AM", datetime(2026, 8, 10, 7, 1, 0)),
}
SETTLING = {  # a later export with a day above 12
    "s1": ("13/08/2026 11:00:00 AM", datetime(2026, 8, 13, 10, 0, 0)),
}
WAITING = {**GRID_EARLY, **GRID_RENAMED}


def grid_file(path: Path, rows: dict[str, tuple[str, datetime]]) -> Path:
    lines = [
        f"MNQ 09-26,Buy,1,29783.25,{time},{eid},Entry,1 L,,Entry,£0.52,1,UK1,Rithmic,"
        for eid, (time, _) in rows.items()
    ]
    path.write_bytes(("\r\n".join([UK, *lines]) + "\r\n").encode())
    return path


def addon_file(path: Path) -> Path:
    lines = [
        f"MNQ 09-26,Sell,1,29790.50,{time},{eid},Exit,-,,Target1,£0.52,1,UK1,Rithmic,Valid"
        for eid, (time, _) in ADDON_ROWS.items()
    ]
    path.write_bytes(("\ufeff" + "\r\n".join([ADDON, *lines]) + "\r\n").encode())
    return path


def uk_folder(folder: Path) -> Path:
    folder.mkdir()
    grid_file(folder / "NinjaTrader Grid 2026-08-05 06-10 PM.csv", GRID_EARLY)
    grid_file(folder / "uk-first-week.csv", GRID_RENAMED)
    addon_file(folder / "NinjaTrader_Executions_20260807.csv")
    return folder


def stored(engine: Engine) -> dict[str, datetime]:
    with engine.connect() as conn:
        rows = conn.execute(select(TRADES.c.execution_id, TRADES.c.executed_at)).all()
    return {eid: at for eid, at in rows}  # noqa: C416 - rows are Row objects


def rejected(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(REJECTIONS.c.reason, REJECTIONS.c.detail))]


def true_times(*tables: dict[str, tuple[str, datetime]]) -> dict[str, datetime]:
    return {eid: at for table in tables for eid, (_, at) in table.items()}


def assert_nothing_guessed(engine: Engine, settled: bool) -> None:
    """Every stored fill on its true date; every grid row that waits named date_order."""
    expected = true_times(ADDON_ROWS, *((WAITING, SETTLING) if settled else ()))
    assert stored(engine) == expected
    reasons = rejected(engine)
    assert {reason for reason, _ in reasons} <= {"ambiguous_date"}
    assert all("date_order" in detail for _, detail in reasons)
    if not settled:
        assert len(reasons) == len(WAITING)


def run_import(database_url: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *CLI,
            "import",
            "--database",
            database_url,
            "--source-timezone",
            "Europe/London",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=clean_env(),
    )


def test_the_uk_folder_through_the_import_command(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    folder = uk_folder(tmp_path / "exports")
    first = run_import(database_url, folder)
    assert first.returncode == 0, first.stderr
    assert_nothing_guessed(engine, settled=False)

    # A later export shows the order: importing it alone reads the waiting rows too.
    later = grid_file(folder / "NinjaTrader Grid 2026-08-14 05-00 PM.csv", SETTLING)
    second = run_import(database_url, later)
    assert second.returncode == 0, second.stderr
    assert "uk-first-week.csv: imported inserted=2" in second.stdout
    assert_nothing_guessed(engine, settled=True)


@pytest.mark.daemon
def test_the_uk_folder_under_the_daemon(database_url: str, engine: Engine, tmp_path: Path) -> None:
    folder = uk_folder(tmp_path / "exports")
    with start_daemon(folder, database_url, "--source-timezone", "Europe/London") as daemon:
        daemon.wait_idle(imports=3, rows=len(ADDON_ROWS))
        assert_nothing_guessed(engine, settled=False)

        grid_file(folder / "NinjaTrader Grid 2026-08-14 05-00 PM.csv", SETTLING)
        daemon.wait_idle(rows=len(ADDON_ROWS) + len(SETTLING) + len(WAITING))
        assert_nothing_guessed(engine, settled=True)
        daemon.stop_cleanly()
