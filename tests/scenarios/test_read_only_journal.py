"""A journal the daemon may read but not write, with the real daemon as a subprocess.

The tests run as root, whom file modes do not stop: SQLite files are made unwritable with
the immutable flag (``chattr +i``), which stops root too; PostgreSQL with
``default_transaction_read_only`` on the database. Found at start: exit 3 naming the file
and the user. Turned unwritable under a running daemon: ``database_unavailable`` says so,
/healthz is 503 with that reason, and the daemon goes on by itself once it is writable.
"""

from __future__ import annotations

import getpass
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from support.daemon import DaemonProcess, start_daemon
from support.journal import Journal, sqlite_url
from support.processes import run_cli
from support.rows import make_rows, write_csv
from support.waiting import wait_for
from unit.daemon.test_metrics import free_port, health


def _chattr(flag: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["chattr", flag, *map(str, paths)], capture_output=True, text=True, check=False
    )


@pytest.fixture
def immutable_supported(tmp_path: Path) -> None:
    """Skip where ``chattr +i`` is missing or refused (no CAP_LINUX_IMMUTABLE, tmpfs)."""
    probe = tmp_path / "probe"
    probe.write_text("x")
    try:
        done = _chattr("+i", probe)
    except FileNotFoundError:
        pytest.skip("chattr is not installed: no way to make a file unwritable for root")
    if done.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {done.stderr.strip()}")
    _chattr("-i", probe)


@contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    """``paths`` unwritable (even for root) inside the block, writable again after it."""
    existing = [p for p in paths if p.exists()]
    assert _chattr("+i", *existing).returncode == 0
    try:
        yield
    finally:
        _chattr("-i", *existing)


def _migrated(tmp_path: Path) -> tuple[str, Path]:
    url = sqlite_url(tmp_path)
    done = run_cli("db", "upgrade", "--database", url)
    assert done.returncode == 0, done.stderr
    return url, tmp_path / "journal.sqlite3"


@pytest.fixture
def watch(tmp_path: Path) -> Path:
    folder = tmp_path / "watch"
    folder.mkdir()
    return folder


@pytest.mark.daemon
@pytest.mark.usefixtures("immutable_supported")
def test_a_read_only_journal_is_refused_at_start_naming_the_file_and_user(
    watch: Path, tmp_path: Path
) -> None:
    """An existing journal that cannot be written: exit 3 before READY=1, the error names
    the journal file and the user the daemon runs as."""
    url, journal = _migrated(tmp_path)
    with immutable(journal), DaemonProcess(watch, url) as d:
        assert d.wait_exit(30) == 3, d.log_text()
        (event,) = d.events("database_unavailable")
        assert str(journal) in event["error"]
        assert f"user {getpass.getuser()}" in event["error"]
        assert "READY" not in {k for m in d.notify.messages for k in m}


@pytest.mark.daemon
@pytest.mark.usefixtures("immutable_supported")
def test_a_journal_turned_read_only_is_reported_and_recovered_from(
    watch: Path, tmp_path: Path
) -> None:
    """Writes refused under a running daemon: ``database_unavailable`` names the file and
    the user, /healthz is 503 "journal not writable"; made writable again, the daemon logs
    ``database_available``, /healthz is 200 and the file written meanwhile is imported."""
    url, journal_file = _migrated(tmp_path)
    port = free_port()
    journal = Journal(url)
    try:
        with start_daemon(watch, url, "--metrics-address", f"127.0.0.1:{port}") as d:
            write_csv(watch / "before.csv", make_rows(5))
            d.wait_idle(imports=1, rows=5)
            wal = Path(f"{journal_file}-wal")
            with immutable(journal_file, wal):
                write_csv(watch / "during.csv", make_rows(7, start=5))
                event = d.wait_event("database_unavailable")
                assert str(journal_file) in event["error"], event
                assert f"user {getpass.getuser()}" in event["error"], event
                _, body = wait_for(lambda: health(port), lambda h: h[0] == 503)
                assert body["reason"] == "database unavailable: journal not writable", body
            d.wait_event("database_available", timeout=60)
            wait_for(lambda: health(port)[0], 200, timeout=30, what="/healthz 200 again")
            wait_for(journal.trades, 12, timeout=30, what="the file written while read-only")
            d.stop_cleanly()
    finally:
        journal.close()


def _read_only(admin_url: str, database: str, *, on: bool) -> None:
    """``default_transaction_read_only`` for new sessions of ``database``; with ``on``, its
    sessions are also ended, so the daemon reconnects into read-only ones."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            value = "on" if on else "off"
            conn.execute(
                text(f'ALTER DATABASE "{database}" SET default_transaction_read_only = {value}')
            )
            if on:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :db AND pid <> pg_backend_pid()"
                    ),
                    {"db": database},
                )
    finally:
        admin.dispose()


@pytest.mark.daemon
@pytest.mark.postgres
def test_postgres_read_only_at_start_and_under_a_running_daemon(
    migrated_postgres_url: str, watch: Path
) -> None:
    """PostgreSQL refusing writes: exit 3 at start; under a running daemon /healthz 503
    "journal not writable", and writes allowed again, the daemon goes on by itself."""
    url = migrated_postgres_url
    database = make_url(url).database
    assert database is not None
    admin_url = make_url(url).set(database="postgres").render_as_string(hide_password=False)
    _read_only(admin_url, database, on=True)
    try:
        with DaemonProcess(watch, url) as d:
            assert d.wait_exit(30) == 3, d.log_text()
            (event,) = d.events("database_unavailable")
            assert "refuses writes" in event["error"], event
    finally:
        _read_only(admin_url, database, on=False)
    port = free_port()
    journal = Journal(url)
    try:
        with start_daemon(watch, url, "--metrics-address", f"127.0.0.1:{port}") as d:
            write_csv(watch / "before.csv", make_rows(5))
            d.wait_idle(imports=1, rows=5)
            _read_only(admin_url, database, on=True)
            try:
                write_csv(watch / "during.csv", make_rows(7, start=5))
                _, body = wait_for(lambda: health(port), lambda h: h[0] == 503)
                assert body["reason"] == "database unavailable: journal not writable", body
            finally:
                _read_only(admin_url, database, on=False)
            d.wait_event("database_available", timeout=60)
            wait_for(lambda: health(port)[0], 200, timeout=30, what="/healthz 200 again")
            wait_for(journal.trades, 12, timeout=30, what="the file written while read-only")
            d.stop_cleanly()
    finally:
        journal.close()
