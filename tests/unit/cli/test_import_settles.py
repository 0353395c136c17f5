"""`import FILE` and the other files of its folder whose rows wait for a date order.

A file named on the command line that settles its folder's date order also imports the
rows that waited for it in the folder's other files (as the daemon does), each as a plain
import in the way it was read: a repair's `--replace` and its settings touch only the
files named. Real SQLite and PostgreSQL, through the command line.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import create_engine, select

from csv_import_daemon.db.tables import TRADES
from csv_import_daemon.files.names import path_key
from support.processes import journal_cli

# A UK grid export with the ID column hidden (stand-in IDs), 12-hour clock.
UK = "Instrument,Action,Quantity,Price,Time,E/X,Position,Name,Commission,Account,"


def uk_row(time: str, price: str) -> str:
    return f"MNQ 09-26,Buy,1,{price},{time},Entry,-,Entry,$0.00,UK1,"


def write(path: Path, lines: list[str]) -> Path:
    path.write_bytes(("\r\n".join([UK, *lines]) + "\r\n").encode())
    return path


def summary(stdout: str, path: Path) -> dict[str, str]:
    """The counts of ``path``'s summary line ("PATH: imported inserted=1 ...")."""
    (line,) = [line for line in stdout.splitlines() if line.startswith(f"{path}: ")]
    return dict(word.split("=") for word in line.split()[2:])


def times(database_url: str, path: Path) -> list[datetime]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            query = select(TRADES.c.executed_at).where(TRADES.c.source_file == path_key(path))
            return sorted(conn.execute(query).scalars())
    finally:
        engine.dispose()


def test_a_repair_that_settles_the_folder_imports_the_waiting_rows_without_repairing(
    database_url: str, tmp_path: Path
) -> None:
    """waiting.csv, read in New York: 08/08 stored, 03/08 waits (reads both ways). A repair
    of late.csv in London (28/07: day-first) settles the folder: waiting.csv's 03/08 row is
    imported in New York, as its file was read; its stored 08/08 row is not replaced."""
    waiting = write(
        tmp_path / "waiting.csv",
        [uk_row("03/08/2026 2:31:07 PM", "29783.25"), uk_row("08/08/2026 9:00:00 AM", "29790")],
    )
    first = journal_cli(
        database_url, "import", str(waiting), "--source-timezone", "America/New_York",
        instance="pc",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert times(database_url, waiting) == [datetime(2026, 8, 8, 13, 0)]

    late = write(tmp_path / "late.csv", [uk_row("28/07/2026 9:00:00 AM", "29700")])
    repair = journal_cli(
        database_url, "import", "--reread", "--replace", "--source-timezone", "Europe/London",
        str(late), instance="pc",
    )  # fmt: skip
    assert repair.returncode == 0, repair.stderr
    assert summary(repair.stdout, waiting) == {
        "inserted": "1", "duplicates": "1", "rejected": "0", "conflicts": "0"
    }  # fmt: skip
    # 14:31:07 New York (EDT) is 18:31:07 UTC; 9:00 there is 13:00.
    assert times(database_url, waiting) == [
        datetime(2026, 8, 3, 18, 31, 7),
        datetime(2026, 8, 8, 13, 0),
    ]
    assert times(database_url, late) == [datetime(2026, 7, 28, 8, 0)]  # 9:00 London (BST)
