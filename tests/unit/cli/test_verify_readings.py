"""``verify`` checks readings on its own: stored values against a plain reading of the text.

Each wrong journal here is what a faulty build or an old guess leaves (made by hand in the
tables): the importer's own re-read would agree with a faulty build, so verify must not
rely on it. A wrong journal exits 1 and names the problem.
"""

from __future__ import annotations

import json
import subprocess
import zoneinfo
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import create_engine, update

from csv_import_daemon.db.tables import FILES, TRADES
from csv_import_daemon.reports.readings import ReadingCheck, local_times, plain_decimal
from support.processes import journal_cli

HEADER = (
    "Instrument,Action,Quantity,Price,Time,ID,E/X,Position,Order ID,Name,Commission,"
    "Rate,Account,Connection,"
)


def row(execution_id: str, time: str, price: str = "21539.25") -> str:
    return f"MNQ MAR25,Buy,1,{price},{time},{execution_id},Entry,1 L,,Entry,$0.52,1,Sim101,Sim,"


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\r\n".join([HEADER, *lines]) + "\r\n", encoding="utf-8")
    return path


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return journal_cli(database_url, *args, instance="pc", env={"TZ": "Etc/UTC"})


def change(database_url: str, statement: Any) -> None:
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(statement)
    finally:
        engine.dispose()


def verify(database_url: str) -> tuple[int, dict[str, Any]]:
    done = cli(database_url, "verify", "--json")
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def kinds(report: dict[str, Any]) -> set[str]:
    return {r["kind"] for f in report["files"] for r in f["readings"]}


def test_a_correct_journal_has_no_reading_problem(database_url: str, tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.csv", [row("A1", "28/01/2025 9:31:00"), row("A2", "03/02/2025 9:31:00")]
    )
    assert (
        cli(database_url, "import", str(path), "--source-timezone", "America/New_York").returncode
        == 0
    )
    code, report = verify(database_url)
    assert (code, kinds(report)) == (0, set())


def test_rounded_prices_fail_verify(database_url: str, tmp_path: Path) -> None:
    """A build that rounded prices stored 21539 for 21539.25: exit 1, price_differs."""
    path = write(tmp_path / "a.csv", [row("A1", "1/28/2025 9:31:00 AM")])
    assert cli(database_url, "import", str(path), "--source-timezone", "UTC").returncode == 0
    change(database_url, update(TRADES).values(price=Decimal("21539")))
    code, report = verify(database_url)
    assert code == 1
    assert "price_differs" in kinds(report)
    assert "reading problems" in cli(database_url, "verify").stdout


def test_a_file_read_in_another_zone_than_its_checkpoint_says_fails(
    database_url: str, tmp_path: Path
) -> None:
    """Read in UTC, its checkpoint saying New York: exit 1, zone, with the offset used."""
    path = write(tmp_path / "a.csv", [row("A1", "1/28/2025 9:31:00 AM")])
    assert cli(database_url, "import", str(path), "--source-timezone", "UTC").returncode == 0
    change(database_url, update(FILES).values(source_timezone="America/New_York"))
    code, report = verify(database_url)
    assert code == 1
    (problem,) = report["files"][0]["readings"]
    assert problem["kind"] == "zone"
    assert "UTC+0" in problem["message"]
    assert "America/New_York" in problem["message"]


def test_stored_times_that_fit_only_the_other_date_order_fail(
    database_url: str, tmp_path: Path
) -> None:
    """A day-first file (25/08 settles it) whose ambiguous rows were stored month-first by an
    old guess: exit 1, date_order, naming the lines."""
    path = write(
        tmp_path / "uk.csv",
        [row("U1", "03/08/2026 9:31:00"), row("U2", "25/08/2026 9:31:00")],
    )
    assert cli(database_url, "import", str(path), "--source-timezone", "UTC").returncode == 0
    change(
        database_url,
        update(TRADES)
        .where(TRADES.c.execution_id == "U1")
        .values(executed_at=datetime(2026, 3, 8, 9, 31)),
    )
    code, report = verify(database_url)
    assert code == 1
    (problem,) = report["files"][0]["readings"]
    assert (problem["kind"], problem["lines"]) == ("date_order", [2])
    assert "mdy" in problem["message"]


def test_the_plain_reading() -> None:
    """Both orders of an ambiguous date, one of an unambiguous one, 12-hour clocks, ISO."""
    assert local_times("03/08/2026 2:31:07 PM") == {
        "mdy": datetime(2026, 3, 8, 14, 31, 7),
        "dmy": datetime(2026, 8, 3, 14, 31, 7),
    }
    assert set(local_times("25.08.2026 09:31:00")) == {"dmy"}
    assert local_times("2026-08-25 09:31:00.5") == {"ymd": datetime(2026, 8, 25, 9, 31, 0, 500000)}
    assert local_times("not a time") == {}
    assert plain_decimal("$1,234.50", ".") == Decimal("1234.50")
    assert plain_decimal("1.234,50 €", ",") == Decimal("1234.50")
    assert plain_decimal("(0.52)", ".") == Decimal("-0.52")
    assert plain_decimal("1,5", None) is None


def test_a_file_whose_order_is_unsettled_is_no_date_order_problem() -> None:
    """Only rows that read one way are stored while the order waits: none is a problem; a
    row stored an hour off is a zone problem naming the offset."""
    check = ReadingCheck(zoneinfo.ZoneInfo("UTC"), "UTC", None, ".")
    stored = SimpleNamespace(executed_at=datetime(2026, 8, 25, 9, 31), price=None)
    check.row(2, "25/08/2026 09:31:00", {}, stored)
    assert check.as_list() == []
    check.row(3, "25/08/2026 10:31:00", {}, stored)
    (problem,) = check.as_list()
    assert (problem["kind"], problem["lines"]) == ("zone", [3])
    assert "UTC+1 h" in problem["message"]
