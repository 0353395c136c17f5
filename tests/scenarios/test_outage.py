"""The database goes away under a running daemon or a one-shot import, then comes back.

PostgreSQL: the shared test server is never stopped (other tests use it). The daemon talks
to it through ``CuttableProxy``, a TCP forwarder on 127.0.0.1 that the test can hold (stop
forwarding, so a statement hangs mid-transaction), cut (close every connection and refuse
new ones) and restore. SQLite: another connection holds ``BEGIN EXCLUSIVE`` longer than the
daemon's busy timeout (0.5 s here).

Files are read in 1 MiB blocks and ``CSV_IMPORT_BATCH_SIZE=1`` makes every block its own
transaction, so an 8 000-row file of wide rows is several batches and the outage can fall
within one or between two.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from csv_import_daemon.config.settings import load_settings
from csv_import_daemon.daemon import importer_thread as importer_thread_module
from csv_import_daemon.daemon.importer_thread import ImporterThread
from csv_import_daemon.daemon.watcher import DirectoryWatcher, PathQueue
from csv_import_daemon.importing.result import Counts, ImportResult, ImportStatus
from csv_import_daemon.importing.write_session import Commits
from support.daemon import DaemonProcess, start_daemon
from support.journal import Journal, sqlite_url
from support.processes import CLI, clean_env, run_cli
from support.proxy import OUTAGE_ENV, CuttableProxy
from support.rows import Row, append, csv_text, ids_of, make_rows, wide_rows, write_csv
from support.waiting import wait_for

BIG = 8_000  # wide rows (a 200-character order name): about 3.3 MB, four batches


# -- a TCP forwarder the test can cut -------------------------------------------------------


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[CuttableProxy]:
    url = make_url(postgres_url)
    p = CuttableProxy((url.host or "127.0.0.1", url.port or 5432))
    yield p
    p.close()


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.postgres
def test_proxy_forwards_cuts_refuses_and_restores(proxy: CuttableProxy, postgres_url: str) -> None:
    """The test's own proxy: queries pass, a cut kills the session and refuses, restore heals."""
    journal = Journal(proxy.url(postgres_url))
    try:
        assert journal.scalar("SELECT 1") == 1
        proxy.cut()
        assert _refused(proxy.port)
        with pytest.raises(OperationalError):
            journal.scalar("SELECT 1")
        proxy.restore()
        assert journal.scalar("SELECT 2") == 2  # pool_pre_ping is off here: a fresh pool
    finally:
        journal.close()


# -- helpers --------------------------------------------------------------------------------


def _wait_status(d: DaemonProcess, needle: str, after: int = 0) -> int:
    """Wait for a STATUS= containing ``needle`` among those from index ``after``; its index."""

    def find() -> int | None:
        statuses = d.notify.statuses()
        return next((i for i in range(after, len(statuses)) if needle in statuses[i]), None)

    found = wait_for(find, lambda i: i is not None, what=f"STATUS= with {needle!r}")
    assert found is not None
    return found


def _wait_mid_import(journal: Journal, before: int) -> None:
    """Until the big file's first batch is committed."""
    wait_for(journal.trades, lambda n: n > before, what="the first batch of the big file")


def _finish_after_outage(d: DaemonProcess, journal: Journal, files: list[Path], down: int) -> None:
    """Once the outage is over: idle again, available again, every checkpoint at its file's
    end; then a clean stop with no import counted as a crash."""
    _wait_status(d, "idle", after=down)
    d.wait_event("database_available")
    for f in files:
        wait_for(
            lambda f=f: journal.offset(f),  # type: ignore[misc]
            f.stat().st_size,
            what=f"checkpoint of {f.name}",
        )
    assert d.stop() == 0, d.log_text()
    assert not d.events("import_crashed"), d.log_text()  # every failure was an outage


def _assert_files_complete(journal: Journal, files: list[Path], rows: list[Row]) -> None:
    assert journal.ids() == ids_of(rows)
    assert journal.trades() == journal.ledger() == len(rows)
    cps = journal.rows('SELECT path, "offset", size, inserted, duplicates FROM import_files')
    by_path = {c["path"]: c for c in cps}
    for f in files:
        c = by_path[str(f)]
        assert c["offset"] == c["size"] == f.stat().st_size, c
    # Nothing counted twice: every row was inserted once, in one committed batch.
    assert sum(c["inserted"] for c in cps) == len(rows)
    assert sum(c["duplicates"] for c in cps) == 0


def _lock_after_first_batch(db: Path, before: int) -> sqlite3.Connection:
    """Another program takes the write lock right after the daemon's first batch of the big
    file commits. SQLite imports a batch in a few milliseconds, so this polls without pause
    (with a deadline): the daemon reads and parses the next block before it asks for the
    lock again, and that gap is where BEGIN EXCLUSIVE gets in."""
    blocker = sqlite3.connect(db, timeout=30, isolation_level=None)
    deadline = time.monotonic() + 30
    while blocker.execute("SELECT count(*) FROM trades").fetchone()[0] <= before:
        if time.monotonic() > deadline:
            blocker.close()
            raise AssertionError("the daemon committed no batch of the big file in 30 s")
    blocker.execute("BEGIN EXCLUSIVE")
    return blocker


# -- the daemon -----------------------------------------------------------------------------


@pytest.mark.daemon
@pytest.mark.postgres
def test_daemon_survives_a_postgres_network_cut_mid_file(
    proxy: CuttableProxy, postgres_url: str, tmp_path: Path
) -> None:
    """Cut mid-batch: the daemon stays up, reports it, retries, then imports all once."""
    watch = tmp_path / "watch"
    watch.mkdir()
    rows = wide_rows(BIG + 300)
    small, big, late = rows[:100], rows[100 : BIG + 100], rows[BIG + 100 :]
    journal = Journal(postgres_url)  # straight to the server, not through the proxy
    try:
        with start_daemon(watch, proxy.url(postgres_url), log_dir=tmp_path, env=OUTAGE_ENV) as d:
            a = write_csv(watch / "a.csv", small)
            wait_for(journal.ids, ids_of(small), what="the first file")
            b = write_csv(watch / "b.csv", big)
            _wait_mid_import(journal, len(small))
            proxy.hold()  # the next batch's statements hang half-way
            proxy.cut()
            append(a, csv_text(late[:100], header=False))  # arrives during the outage
            c = write_csv(watch / "c.csv", late[100:])
            down = _wait_status(d, "database unavailable")
            assert "postgresql+psycopg://" in d.notify.statuses()[down]
            d.wait_event("database_unavailable")
            committed = journal.trades()
            assert len(small) < committed < len(small) + len(big), "cut after the file ended"
            d.wait_event("database_unavailable", lambda e: e["retry_in"] >= 1.0)  # a retry
            assert d.returncode is None
            assert journal.trades() == committed  # nothing more arrived while cut

            proxy.restore()
            # Back: once a batch is committed, STATUS= no longer claims an outage (held
            # here so the rest of the file cannot finish first).
            wait_for(journal.trades, lambda n: n > committed, what="a batch after restore")
            proxy.hold()
            _wait_status(d, "importing b.csv", after=down)
            proxy.resume()
            wait_for(journal.ids, ids_of(rows), timeout=60, what="every row after restore")
            _finish_after_outage(d, journal, [a, b, c], down)
        _assert_files_complete(journal, [a, b, c], rows)
        retries = [e["retry_in"] for e in d.events("database_unavailable")]
        assert retries == sorted(retries)
        assert all(0 < r <= importer_thread_module.DB_RETRY_MAX for r in retries)
    finally:
        journal.close()


@pytest.mark.daemon
def test_daemon_survives_a_sqlite_lock_longer_than_its_busy_timeout(tmp_path: Path) -> None:
    """Another program holds the SQLite write lock for seconds: the daemon waits, reports,
    retries, then imports the rest of the file and what came meanwhile, once."""
    watch = tmp_path / "watch"
    watch.mkdir()
    url = sqlite_url(tmp_path)
    rows = wide_rows(BIG + 300)
    small, big, late = rows[:100], rows[100 : BIG + 100], rows[BIG + 100 :]
    journal = Journal(url)
    try:
        with start_daemon(watch, url, log_dir=tmp_path, env=OUTAGE_ENV) as d:
            a = write_csv(watch / "a.csv", small)
            wait_for(journal.ids, ids_of(small), what="the first file")
            b = write_csv(watch / "b.csv", big)
            blocker = _lock_after_first_batch(tmp_path / "journal.sqlite3", len(small))
            try:
                committed = blocker.execute("SELECT count(*) FROM trades").fetchone()[0]
                assert len(small) < committed < len(small) + len(big), "lock after the end"

                append(a, csv_text(late[:100], header=False))
                c = write_csv(watch / "c.csv", late[100:])
                down = _wait_status(d, "database unavailable")
                assert "database is locked" in d.notify.statuses()[down]
                d.wait_event("database_unavailable")
                assert d.returncode is None
                assert blocker.execute("SELECT count(*) FROM trades").fetchone()[0] == committed
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
            wait_for(journal.ids, ids_of(rows), timeout=60, what="every row after the lock")
            _finish_after_outage(d, journal, [a, b, c], down)
        _assert_files_complete(journal, [a, b, c], rows)
    finally:
        journal.close()


class _AlwaysDown:
    """An ImportService whose database is down for ``failures`` calls, then imports."""

    def __init__(self, failures: int) -> None:
        self.engine = create_engine("sqlite:////nonexistent/journal.sqlite3")
        self.shares_transactions = False
        self.heartbeat = None
        self.commits = Commits()  # none: the database is down
        self.failures = failures
        self.calls = 0

    def import_file(self, path: Path, **_: Any) -> ImportResult:
        self.calls += 1
        if self.calls <= self.failures:
            raise OperationalError("SELECT 1", {}, Exception("connection refused"))
        return ImportResult(path=str(path), status=ImportStatus.IMPORTED, counts=Counts(inserted=1))


@pytest.mark.daemon
def test_database_retry_backoff_doubles_up_to_its_cap(tmp_path: Path) -> None:
    """Waits while the database is down: 0.5 s doubling to DB_RETRY_MAX, never more."""
    (tmp_path / "w").mkdir()
    path = write_csv(tmp_path / "w" / "a.csv", make_rows(1))
    settings = load_settings({"database_url": "sqlite://", "source_timezone": "UTC"}, environ={})
    queue = PathQueue()
    service = _AlwaysDown(failures=10)
    thread = ImporterThread(
        service=service,  # type: ignore[arg-type]
        queue=queue,
        watcher=DirectoryWatcher(tmp_path / "w", queue),
        settings=settings,
    )
    waits: list[float] = []
    statuses: list[str] = []

    def fake_wait(timeout: float | None = None) -> bool:  # the stop flag's wait, not a sleep
        waits.append(timeout or 0.0)
        statuses.append(thread.describe())
        return False

    thread.stopping.wait = fake_wait  # type: ignore[method-assign]
    result = thread._import(path)
    assert result is not None
    assert result.inserted == 1
    assert waits == [
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
        16.0,
        importer_thread_module.DB_RETRY_MAX,
        importer_thread_module.DB_RETRY_MAX,
        importer_thread_module.DB_RETRY_MAX,
        importer_thread_module.DB_RETRY_MAX,
    ]
    assert all(
        s.startswith(
            "database unavailable, retrying: cannot use database "
            "sqlite:////nonexistent/journal.sqlite3: connection refused"
        )
        for s in statuses
    )
    assert thread.db_error is None


# -- the one-shot import ----------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, "--log-format", "json", env=env)


def _assert_clean_failure(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Exit 3, no traceback, no file summary, and one error event that says why."""
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""  # no per-file summary: no file was imported
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.strip()]
    errors = [e for e in events if e["level"] == "error"]
    assert len(errors) == 1, proc.stderr
    assert errors[0] is events[-1]
    for needle in needles:
        assert needle in errors[0]["error"], errors[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.postgres
def test_one_shot_import_with_postgres_unreachable_exits_3(tmp_path: Path) -> None:
    """Nothing listens where the server should be: one clear error line, exit code 3."""
    path = write_csv(tmp_path / "a.csv", make_rows(3))
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/journal"
    proc = _cli("import", str(path), "--database", url)
    _assert_clean_failure(proc, "cannot use database", url, "refused")


def test_one_shot_import_with_sqlite_locked_exits_3_and_writes_nothing(tmp_path: Path) -> None:
    """The journal is locked past the busy timeout: exit 3, no row, no checkpoint."""
    url = sqlite_url(tmp_path)
    path = write_csv(tmp_path / "a.csv", make_rows(3))
    assert _cli("db", "upgrade", "--database", url).returncode == 0
    blocker = sqlite3.connect(tmp_path / "journal.sqlite3", isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        proc = _cli("import", str(path), "--database", url, env={"CSV_IMPORT_BUSY_TIMEOUT": "0.5"})
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    _assert_clean_failure(proc, "database is locked", url)
    journal = Journal(url)
    try:
        assert journal.trades() == journal.ledger() == 0
        assert journal.scalar("SELECT count(*) FROM import_files") == 0
    finally:
        journal.close()


@pytest.mark.postgres
def test_one_shot_import_cut_mid_file_keeps_only_whole_batches(
    proxy: CuttableProxy, postgres_url: str, tmp_path: Path
) -> None:
    """Cut during a one-shot import: exit 3, the committed batches and their checkpoint
    agree, and running it again adds exactly the rest."""
    rows = wide_rows(BIG)
    path = write_csv(tmp_path / "big.csv", rows)
    journal = Journal(postgres_url)
    args = [
        "import",
        str(path),
        "--database",
        proxy.url(postgres_url),
        "--settle",
        "0",
        "--source-timezone",
        "UTC",
        "--instance-name",
        "pc1",
    ]
    try:
        importer = subprocess.Popen(
            [*CLI, *args, "--log-format", "json"],
            env=clean_env(OUTAGE_ENV),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for(
                lambda: journal.scalar("SELECT to_regclass('trades') IS NOT NULL"),
                True,
                what="the migrated schema",
            )
            _wait_mid_import(journal, 0)
            proxy.hold()
            proxy.cut()
            out, err = importer.communicate(timeout=60)
        finally:
            if importer.poll() is None:
                importer.kill()
                importer.wait(10)
        _assert_clean_failure(
            subprocess.CompletedProcess(args, importer.returncode, out, err), "cannot use database"
        )
        committed = journal.trades()
        assert 0 < committed < len(rows)
        cp = journal.checkpoint(path)
        assert cp is not None
        # The checkpoint is exactly where the committed rows end: line 1 is the header.
        assert (cp["inserted"], cp["lines_consumed"]) == (committed, committed + 1)
        assert journal.ids() == ids_of(rows[:committed])
        assert cp["offset"] == len(csv_text(rows[:committed]).encode())

        proxy.restore()
        again = _cli(*args)
        assert again.returncode == 0, again.stderr
        assert f"inserted={len(rows) - committed} duplicates=0" in again.stdout
        assert journal.ids() == ids_of(rows)
        assert journal.trades() == journal.ledger() == len(rows)
    finally:
        journal.close()
