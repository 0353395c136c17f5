"""``verify`` as a user runs it, a subprocess on a real journal (SQLite and PostgreSQL):
exit 0 on a complete journal without writing a byte, 1 naming what is missing, 3 without a
database."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from support.daemon import start_daemon
from support.journal import Journal, sqlite_url
from support.processes import journal_cli
from support.rows import append, csv_text, make_rows, write_csv
from support.waiting import wait_for

TABLES = ("trades", "imported_executions", "import_files", "import_rejections")


def cli(
    database_url: str, *args: str, zone: str = "America/New_York"
) -> subprocess.CompletedProcess[str]:
    env = {"CSV_IMPORT_SOURCE_TIMEZONE": zone}
    return journal_cli(database_url, *args, instance="test-host", env=env)


def verify_json(
    database_url: str, *paths: Path, zone: str = "America/New_York"
) -> tuple[int, dict[str, Any]]:
    done = cli(database_url, "verify", *map(str, paths), "--json", zone=zone)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


@pytest.fixture
def journal_files(tmp_path: Path, database_url: str) -> list[Path]:
    """Two imported files: one with a bad row, one overlapping the first (duplicates)."""
    folder = tmp_path / "exports"
    folder.mkdir()
    rows = make_rows(40)
    a = write_csv(folder / "a.csv", rows[:30])
    append(a, "MNQ 12-25,Buy,0,1.00,10/31/2025 9:30:00 AM,badqty,,,,,,,SIM101,Feed,\n")
    b = write_csv(folder / "b.csv", rows[20:])
    done = cli(database_url, "import", str(a), str(b))
    assert done.returncode == 0, done.stderr
    return [a, b]


def _db_files(database_url: str) -> dict[str, str]:
    """SHA-256 of the SQLite journal and its WAL (what a write would change)."""
    db = Path(database_url.removeprefix("sqlite:///"))
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (db, db.with_name(db.name + "-wal"))
        if p.exists() and p.stat().st_size
    }


def _contents(journal: Journal) -> dict[str, list[dict[str, Any]]]:
    return {t: journal.rows(f"SELECT * FROM {t} ORDER BY id") for t in TABLES}  # noqa: S608


def _edit(database_url: str, statement: str) -> None:
    """Change the journal behind the importer's back, as a user with a SQL client would."""
    journal = Journal(database_url)
    try:
        with journal.engine.begin() as conn:
            conn.exec_driver_sql(statement)
    finally:
        journal.close()


def test_verify_passes_on_a_complete_journal_and_writes_nothing(
    database_url: str, journal_files: list[Path]
) -> None:
    """A complete journal: exit 0, every execution present, the rejection recorded, and
    not one byte of the database changed (every checkpointed file checked, no paths)."""
    journal = Journal(database_url)
    try:
        before_rows = _contents(journal)
        before_bytes = _db_files(database_url) if database_url.startswith("sqlite") else {}
        code, report = verify_json(database_url)
        assert code == 0, report
        assert [Path(f["file"]).name for f in report["files"]] == ["a.csv", "b.csv"]
        assert report["totals"] == {
            "files": 2,
            "executions": 50,  # 30 + 20, ten of them in both files
            "present": 50,
            "deleted": 0,
            "before_horizon": 0,
            "unread": 0,
            "missing": 0,
            "rejected": 1,
            "rejected_unrecorded": 0,
            "conflicts": 0,
            "reading_problems": 0,
        }
        assert _contents(journal) == before_rows
        if database_url.startswith("sqlite"):
            assert _db_files(database_url) == before_bytes
    finally:
        journal.close()


def test_verify_names_an_execution_missing_from_the_ledger(
    database_url: str, journal_files: list[Path]
) -> None:
    """An ID deleted from the ledger is missing: exit 1, and the report names it and its line."""
    journal = Journal(database_url)
    try:
        gone = journal.rows("SELECT execution_id, source_line FROM trades ORDER BY id")[3]
        with journal.engine.begin() as conn:
            conn.execute(
                text("DELETE FROM imported_executions WHERE execution_id = :id"),
                {"id": gone["execution_id"]},
            )
    finally:
        journal.close()
    done = cli(database_url, "verify", str(journal_files[0]))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"missing: line {gone['source_line']} ID {gone['execution_id']}" in done.stdout
    code, report = verify_json(database_url, journal_files[0])
    assert code == 1
    assert report["files"][0]["status"] == "missing"
    assert report["files"][0]["missing"] == [
        {"line": gone["source_line"], "execution_id": gone["execution_id"]}
    ]


def test_trade_deleted_by_the_user_is_reported_but_not_an_error(
    database_url: str, journal_files: list[Path]
) -> None:
    """In the ledger, gone from trades: the user deleted it, counted as deleted, never
    missing. Its round trips are stale until `round-trips --rebuild` (exit 1, that alone);
    after the rebuild, exit 0."""
    _edit(database_url, "DELETE FROM trades WHERE source_line = 2")
    code, report = verify_json(database_url, *journal_files)
    assert code == 1, report
    assert report["round_trips"]["stale"] is True
    assert report["totals"]["deleted"] >= 1
    assert report["totals"]["missing"] == 0
    assert cli(database_url, "round-trips", "--rebuild").returncode == 0
    code, report = verify_json(database_url, *journal_files)
    assert code == 0, report
    assert report["totals"]["deleted"] >= 1


def test_unrecorded_rejection_fails(database_url: str, journal_files: list[Path]) -> None:
    """A row that would be rejected but has no row in import_rejections: exit 1."""
    _edit(database_url, "DELETE FROM import_rejections")
    code, report = verify_json(database_url, journal_files[0])
    assert code == 1
    [unrecorded] = report["files"][0]["rejected_unrecorded"]
    assert (unrecorded["line"], unrecorded["reason"]) == (32, "bad_quantity")


def test_rows_after_the_checkpoint_are_unread_not_missing(
    database_url: str, journal_files: list[Path]
) -> None:
    """Lines appended after the last import are not read yet: reported, exit 0."""
    append(journal_files[1], csv_text(make_rows(5, start=100), header=False))
    code, report = verify_json(database_url, journal_files[1])
    assert code == 0, report
    assert report["files"][0]["unread"] == 5
    assert report["files"][0]["present"] == 20


def test_changed_stored_content_is_reported_as_a_conflict(
    database_url: str, journal_files: list[Path]
) -> None:
    """A stored trade edited by hand differs from its line: a conflict, not a missing row
    (exit 1 only because its round trips now disagree with trades)."""
    _edit(database_url, "UPDATE trades SET quantity = 7 WHERE source_line = 5")
    code, report = verify_json(database_url, journal_files[0])
    assert code == 1, report
    assert report["round_trips"]["quantity_difference"] > 0
    assert report["totals"]["missing"] == 0
    [conflict] = report["files"][0]["conflicts"]
    assert (conflict["line"], conflict["fields"], conflict["recorded"]) == (5, ["quantity"], False)


def test_verify_reads_each_file_in_the_zone_it_was_imported_in(
    database_url: str, journal_files: list[Path]
) -> None:
    """With the journal's zone changed since (`db settings`), verify still reads the files
    in New York time (their checkpoints say so): no row differs. Asked for another zone
    than the recorded one, it refuses (exit 2) naming the recorded zone."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return journal_cli(database_url, *args, instance="test-host")

    refused = run("verify", "--json", "--source-timezone", "Asia/Tokyo")
    assert refused.returncode == 2
    assert "America/New_York" in refused.stderr
    changed = run("db", "settings", "--source-timezone", "Asia/Tokyo")
    assert changed.returncode == 0, changed.stderr
    done = run("verify", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [f["conflicts"] for f in report["files"]] == [[], []]


def test_a_file_imported_under_default_account_is_checked_with_it(
    database_url: str, tmp_path: Path
) -> None:
    """A file without an Account column: verify checks its rows with the default account
    the journal recorded at the import (given or not); another one is refused (exit 2)."""
    path = tmp_path / "no-account.csv"
    header = "Instrument,Action,Quantity,Price,Time,ID,E/X,Position,Order ID,Name,Commission,"
    path.write_text(
        header + "\nMNQ 12-25,Buy,1,21000.25,10/31/2025 9:30:00 AM,na1,Entry,1 L,,Entry,$0.52,\n"
    )
    done = cli(database_url, "import", str(path), "--default-account", "Sim1")
    assert done.returncode == 0, done.stderr
    done = cli(database_url, "verify", str(path), "--json", "--default-account", "Sim1")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["files"][0]["present"] == 1
    done = cli(database_url, "verify", str(path), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["files"][0]["present"] == 1
    done = cli(database_url, "verify", str(path), "--json", "--default-account", "Sim2")
    assert done.returncode == 2
    assert "'Sim1'" in done.stderr


def test_unreachable_database_exits_3_and_creates_no_journal(tmp_path: Path) -> None:
    """No journal file: exit 3 with a message, and verify does not create one."""
    db = tmp_path / "nothing" / "journal.sqlite3"
    done = cli(f"sqlite:///{db}", "verify")
    assert done.returncode == 3
    assert "does not exist" in done.stderr
    assert not db.parent.exists()


@pytest.mark.daemon
def test_verify_beside_a_running_daemon(tmp_path: Path) -> None:
    """Run while the daemon imports: exit 0, and the daemon goes on importing unharmed."""
    watch = tmp_path / "watch"
    watch.mkdir()
    url = sqlite_url(tmp_path)
    rows = make_rows(300)
    journal = Journal(url)
    try:
        with start_daemon(watch, url) as d:
            daily = write_csv(watch / "daily.csv", rows[:200])
            wait_for(journal.trades, 200, what="the first rows")
            code, report = verify_json(url, zone="UTC")  # the daemon's
            assert code == 0, report
            assert report["totals"]["present"] == 200
            append(daily, csv_text(rows[200:], header=False))
            wait_for(journal.trades, 300, what="the appended rows")
            code, report = verify_json(url, zone="UTC")  # the daemon's
            assert code == 0, report
            assert report["totals"]["present"] == 300
            assert d.stop() == 0, d.log_text()
            assert not d.events("database_unavailable")
    finally:
        journal.close()
