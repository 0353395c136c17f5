"""The real daemon in a subprocess on temporary folders: every way a file can change.

Each test waits on the database (or the notify socket, or the log) with a deadline; none
sleeps blindly. ``--settle 0.3`` keeps the quiet-period tests fast.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from structlog.testing import capture_logs

from csv_import_daemon.config.settings import load_settings
from csv_import_daemon.daemon import importer_thread as importer_thread_module
from csv_import_daemon.daemon.importer_thread import ImporterThread
from csv_import_daemon.daemon.watcher import DirectoryWatcher, PathQueue
from support.daemon import DaemonProcess, start_daemon
from support.journal import Journal, sqlite_url
from support.paths import SAMPLES
from support.rows import HEADER, append, csv_text, ids_of, make_row, make_rows, write_csv
from support.scripted import ScriptedService, result
from support.waiting import assert_stays, wait_for

# Every test here starts the daemon subprocess or a real observer.
pytestmark = pytest.mark.daemon

SAMPLE = "NinjaTrader_Executions_20251031.csv"
# A large import: five batches of 5000 rows (the daemon commits per batch), long enough
# to interrupt yet quick to finish after the restart.
LARGE_ROWS = 25_000
SMALL_BATCHES = {"CSV_IMPORT_BATCH_SIZE": "5000"}
# SIGTERM must land mid-import: the main loop notices it within one tick (0.5 s), while
# the importer goes on committing. 25 000 rows could all be in before that on a quick
# machine; twenty batches cannot.
SIGTERM_ROWS = 100_000


@pytest.fixture
def watch(tmp_path: Path) -> Path:
    folder = tmp_path / "watch"
    folder.mkdir()
    return folder


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return sqlite_url(tmp_path)


@pytest.fixture
def journal(db_url: str) -> Iterator[Journal]:
    j = Journal(db_url)
    yield j
    j.close()


@pytest.fixture
def daemon(watch: Path, db_url: str) -> Iterator[DaemonProcess]:
    """A running daemon on ``watch``, stopped (and its log checked) after the test."""
    d = start_daemon(watch, db_url)
    with d:
        yield d
        d.stop_cleanly()  # exit 0 (also when already stopped), every stderr line JSON


def test_dropped_file_is_imported_with_one_log_event(
    daemon: DaemonProcess, watch: Path, journal: Journal
) -> None:
    """A file dropped into the folder is imported, logged as one import event, once."""
    shutil.copy(SAMPLES / SAMPLE, watch / SAMPLE)
    wait_for(journal.trades, 2)
    event = daemon.wait_event("import")
    assert event["file"] == str(watch / SAMPLE)
    assert (event["inserted"], event["duplicates"], event["rejected"]) == (2, 0, 0)
    assert {"offset", "conflicts", "duration_ms"} <= event.keys()
    assert_stays(lambda: len(daemon.events("import")), 1, 0.5, "import events")
    assert [e["event"] for e in daemon.events()][:1] == ["start"]
    assert daemon.events("ready")


def test_backlog_present_at_start_is_imported_after_ready(
    watch: Path, db_url: str, journal: Journal
) -> None:
    """Files that arrived while the daemon was down are found by the start-up scan."""
    rows = make_rows(30)
    write_csv(watch / "a.csv", rows[:10])
    write_csv(watch / "B.CSV", rows[10:])
    with start_daemon(watch, db_url) as d:
        ready = d.events("ready")[0]
        assert ready["queued"] == 2
        d.wait_idle(imports=2)  # the daemon says it is done: no polling of the database
        assert journal.ids() == ids_of(rows)
        assert d.stop() == 0


def test_appended_lines_are_imported_one_by_one(
    daemon: DaemonProcess, watch: Path, journal: Journal
) -> None:
    """Each line appended to an open file is committed on its own, while the file stays
    open (the latency itself is the benchmark's figure (g), not a test's)."""
    path = watch / "NinjaTrader_Executions_20251031.csv"
    rows = make_rows(8)
    with open(path, "w", encoding="utf-8") as f:  # kept open like the add-on does
        f.write(HEADER + "\n")
        f.flush()
        for n, row in enumerate(rows, start=1):
            f.write(row.line + "\n")
            f.flush()
            wait_for(journal.trades, n, timeout=5)
    assert journal.ids() == ids_of(rows)
    assert journal.checkpoint(path)["offset"] == path.stat().st_size  # type: ignore[index]


def test_half_lines_wait_for_their_newline(
    daemon: DaemonProcess, watch: Path, journal: Journal
) -> None:
    """Half a line is never consumed while it may grow; the other half completes it."""
    path = write_csv(watch / "half.csv", make_rows(1))
    wait_for(journal.trades, 1)
    row = make_row(1)
    cut = row.line.index("SIM101") + 3  # inside the Account column
    append(path, row.line[:cut])
    wait_for(lambda: (journal.checkpoint(path) or {}).get("pending_bytes"), cut)
    assert daemon.settle is not None
    assert_stays(journal.trades, 1, daemon.settle * 3, "trades while half a line waits")
    append(path, row.line[cut:] + "\n")
    wait_for(journal.trades, 2)
    assert row.execution_id in journal.ids()


def test_unterminated_complete_last_line_is_read_after_settle(
    daemon: DaemonProcess, watch: Path, journal: Journal
) -> None:
    """A last line with every field but no newline counts once the file has been quiet."""
    rows = make_rows(2)
    (watch / "final.csv").write_text(HEADER + "\n" + rows[0].line + "\n" + rows[1].line)
    wait_for(journal.ids, ids_of(rows))


def test_rewrite_with_rows_reordered_imports_only_new_rows(
    daemon: DaemonProcess, watch: Path, journal: Journal
) -> None:
    """A file rewritten in place with its rows reordered adds nothing but its new row."""
    rows = make_rows(6)
    path = write_csv(watch / "grid.csv", rows)
    daemon.wait_idle(rows=6)
    assert journal.trades() == 6
    extra = make_row(99)
    write_csv(path, [*reversed(rows), extra])
    daemon.wait_idle(rows=7)
    assert journal.ids() == ids_of([*rows, extra])
    assert_stays(journal.ledger, 7, 0.5, "ledger rows")


def test_truncated_file_is_read_again_from_the_start(
    daemon: DaemonProcess, watch: Path, journal: Journal
) -> None:
    """Truncating a file and writing new rows imports the new rows, no duplicates."""
    rows = make_rows(5)
    path = write_csv(watch / "trunc.csv", rows)
    wait_for(journal.trades, 5)
    with open(path, "r+", encoding="utf-8") as f:
        f.truncate(len(HEADER) + 1)
    newer = make_rows(2, start=50)
    append(path, csv_text(newer, header=False))
    wait_for(journal.ids, ids_of(rows + newer))


def test_deleted_then_dropped_again_adds_only_new_rows(
    daemon: DaemonProcess, watch: Path, journal: Journal
) -> None:
    """A file deleted and dropped again (with one more row) adds just that row."""
    rows = make_rows(4)
    path = write_csv(watch / "again.csv", rows)
    daemon.wait_idle(rows=4)
    assert journal.trades() == 4
    path.unlink()
    extra = make_row(40)
    write_csv(watch / "again.csv", [*rows, extra])
    daemon.wait_idle(rows=5)
    assert journal.ids() == ids_of([*rows, extra])
    assert journal.ledger() == 5


def test_file_renamed_into_the_folder_is_imported(
    daemon: DaemonProcess, watch: Path, tmp_path: Path, journal: Journal
) -> None:
    """Moves count: from outside the folder, and a temporary name renamed inside it."""
    outside = write_csv(tmp_path / "outside.csv", make_rows(3))
    os.rename(outside, watch / "moved-in.csv")
    wait_for(journal.trades, 3)
    tmp = watch / "export.csv.tmp"
    tmp.write_text(csv_text(make_rows(2, start=10)))
    os.rename(tmp, watch / "export.csv")
    wait_for(journal.trades, 5)


def test_polling_mode_imports_new_files_and_appends(
    watch: Path, db_url: str, journal: Journal
) -> None:
    """--polling (network shares, Docker, WSL) finds new files and appended lines too."""
    with start_daemon(watch, db_url, "--polling") as d:
        assert d.events("ready")[0]["observer"] == "polling"
        path = write_csv(watch / "polled.csv", make_rows(2))
        wait_for(journal.trades, 2)
        append(path, make_row(7).line + "\n")
        wait_for(journal.trades, 3)
        assert d.stop() == 0


def test_hidden_temporary_and_outside_symlinked_files_are_ignored(
    watch: Path, tmp_path: Path, db_url: str, journal: Journal
) -> None:
    """Only visible *.csv files inside the folder count; a link leading out is not followed."""
    write_csv(watch / ".hidden.csv", make_rows(1, start=1))
    write_csv(watch / "~$locked.csv", make_rows(1, start=2))
    write_csv(watch / "notes.txt", make_rows(1, start=3))
    outside = write_csv(tmp_path / "secret.csv", make_rows(1, start=4))
    (watch / "link.csv").symlink_to(outside)
    wanted = make_rows(2, start=5)
    write_csv(watch / "zz-last.csv", wanted)  # scanned in name order: last
    with start_daemon(watch, db_url) as d:
        wait_for(journal.ids, ids_of(wanted))
        assert [r["path"] for r in journal.rows("SELECT path FROM import_files")] == [
            str(watch / "zz-last.csv")
        ]
        assert d.stop() == 0


def test_archive_moves_finished_old_files_and_keeps_tracking_them(
    watch: Path, tmp_path: Path, db_url: str, journal: Journal
) -> None:
    """An old finished file moves to ARCHIVE/YYYY-MM (suffix on collision, no re-import);
    today's file stays; a line appended after the move is still imported."""
    archive = tmp_path / "archive"
    (archive / "2025-10").mkdir(parents=True)
    taken = archive / "2025-10" / SAMPLE
    taken.write_text("someone else's file\n")
    rows = make_rows(3)
    old = write_csv(watch / SAMPLE, rows)
    today = write_csv(
        watch / f"NinjaTrader_Executions_{datetime.now(UTC):%Y%m%d}.csv", make_rows(2, start=10)
    )
    moved = archive / "2025-10" / "NinjaTrader_Executions_20251031-1.csv"
    with start_daemon(watch, db_url, "--archive-dir", str(archive), "--archive-quiet", "0.5") as d:
        wait_for(moved.exists, True)
        assert not old.exists()
        assert taken.read_text() == "someone else's file\n"
        checkpoint = wait_for(lambda: journal.checkpoint(moved), lambda c: c is not None)
        assert checkpoint is not None
        assert checkpoint["archived_to"] == str(moved)
        assert journal.checkpoint(old) is None
        late = make_row(20)
        append(moved, late.line + "\n")
        wait_for(journal.ids, ids_of([*rows, late]) | _ids_in(today))
        # The move itself read nothing (the log line follows the commit: wait for it).
        wait_for(
            lambda: [e["inserted"] for e in d.events("import") if "20251031" in e["file"]],
            [3, 1],
            what="the import events of the archived file",
        )
        assert today.exists()
        assert d.events("archive")[0]["archived_to"] == str(moved)
        assert d.stop() == 0


def _ids_in(path: Path) -> set[str]:
    return {line.split(",")[5] for line in path.read_text().splitlines()[1:]}


def test_sigterm_during_a_large_import_exits_0_quickly_and_consistently(
    watch: Path, db_url: str, journal: Journal
) -> None:
    """SIGTERM mid-import: STOPPING=1, exit 0 within seconds, rows match the checkpoint;
    a restart finishes the file."""
    rows = make_rows(SIGTERM_ROWS)
    with start_daemon(watch, db_url, env=SMALL_BATCHES) as d:
        size = write_csv(watch / "large.csv", rows).stat().st_size
        # The progress signal: a committed checkpoint inside the file, not at its end.
        wait_for(
            lambda: (journal.checkpoint(watch / "large.csv") or {}).get("offset", 0),
            lambda offset: 0 < offset < size,
            timeout=60,
        )
        d.send(signal.SIGTERM)
        # A deadline, not a timing assertion: the current batch may still commit first.
        assert d.wait_exit(15) == 0, d.log_text()
        assert d.events("import_interrupted")
        d.notify.wait_for("STOPPING", "1", timeout=1)
        assert d.events("stop")[0]["exit_code"] == 0
    checkpoint = journal.checkpoint(watch / "large.csv")
    assert checkpoint is not None
    assert journal.trades() == journal.ledger() == checkpoint["lines_consumed"] - 1
    assert journal.trades() < len(rows)  # it really was interrupted
    with start_daemon(watch, db_url, env=SMALL_BATCHES) as d:
        d.wait_idle(rows=len(rows) - checkpoint["inserted"], timeout=60)
        assert journal.ids() == ids_of(rows)
        assert d.stop() == 0


def test_kill_9_during_a_large_import_then_restart_holds_exactly_the_unique_set(
    watch: Path, db_url: str, journal: Journal
) -> None:
    """kill -9 at any point loses nothing and duplicates nothing after a restart."""
    rows = make_rows(LARGE_ROWS)
    repeated = rows[:500] + rows[12_000:12_500]  # duplicates inside the same file
    with start_daemon(watch, db_url, env=SMALL_BATCHES) as d:
        write_csv(watch / "large.csv", rows + repeated)
        wait_for(journal.trades, lambda n: n > 0)
        d.send(signal.SIGKILL)
        assert d.wait_exit(10) == -signal.SIGKILL
    assert journal.trades() == journal.ledger() < len(rows)
    with start_daemon(watch, db_url, env=SMALL_BATCHES) as d:
        wait_for(journal.trades, len(rows), timeout=30)
        assert journal.ids() == ids_of(rows)
        assert journal.ledger() == len(rows)
        assert d.stop() == 0


def test_locked_database_during_work_is_reported_and_retried(
    watch: Path, tmp_path: Path, db_url: str, journal: Journal
) -> None:
    """A database that cannot be written mid-run: STATUS= says so, the file stays queued,
    and it is imported once the lock is gone."""
    with start_daemon(watch, db_url, env={"CSV_IMPORT_BUSY_TIMEOUT": "0.2"}) as d:
        lock = sqlite3.connect(tmp_path / "journal.sqlite3", isolation_level=None)
        try:
            lock.execute("BEGIN EXCLUSIVE")
            write_csv(watch / "locked.csv", make_rows(3))
            d.notify.wait_for("STATUS", lambda v: v.startswith("database unavailable"))
            assert journal.trades() == 0
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        wait_for(journal.trades, 3)
        d.wait_event("database_available")
        assert d.stop() == 0


@pytest.mark.postgres
def test_postgres_import_and_kill_9_restart(watch: Path, postgres_url: str) -> None:
    """On PostgreSQL too: a dropped file is imported, and kill -9 mid-import followed by a
    restart leaves exactly the unique set."""
    journal = Journal(postgres_url)
    try:
        rows = make_rows(LARGE_ROWS)
        with start_daemon(watch, postgres_url, env=SMALL_BATCHES) as d:
            shutil.copy(SAMPLES / SAMPLE, watch / SAMPLE)
            wait_for(journal.trades, 2)
            write_csv(watch / "large.csv", rows)
            wait_for(journal.trades, lambda n: n > 2)
            d.send(signal.SIGKILL)
            assert d.wait_exit(10) == -signal.SIGKILL
        with start_daemon(watch, postgres_url, env=SMALL_BATCHES) as d:
            wait_for(journal.trades, len(rows) + 2, timeout=60)
            assert ids_of(rows) <= journal.ids()
            assert journal.ledger() == len(rows) + 2
            assert d.stop() == 0
    finally:
        journal.close()


def test_second_signal_exits_at_once(watch: Path, db_url: str) -> None:
    """A second signal during shutdown exits immediately with 130."""
    with start_daemon(watch, db_url) as d:
        d.send(signal.SIGTERM)
        d.send(signal.SIGINT)
        assert d.wait_exit(10) == 130


def test_notify_protocol_messages(watch: Path, db_url: str) -> None:
    """READY=1 after the start-up scan, STATUS= lines, WATCHDOG=1 pings, STOPPING=1."""
    with start_daemon(watch, db_url, env={"WATCHDOG_USEC": "200000"}) as d:
        ready = d.notify.wait_for("READY", "1")
        assert "watching" in ready["STATUS"]
        d.notify.wait_for("STATUS")
        d.notify.wait_for("WATCHDOG", "1", timeout=2)
        pings = d.notify.count("WATCHDOG", "1")
        wait_for(lambda: d.notify.count("WATCHDOG", "1"), lambda n: n >= pings + 3, timeout=3)
        assert d.stop() == 0
        d.notify.wait_for("STOPPING", "1", timeout=1)


def test_unreachable_database_at_start_exits_3(watch: Path) -> None:
    """An unreachable database at start is fatal: exit 3 and a clear message."""
    url = "postgresql+psycopg://nobody@127.0.0.1:9/none"
    with DaemonProcess(watch, url) as d:
        assert d.wait_exit(30) == 3
        event = d.events("database_unavailable")[0]
        assert "127.0.0.1" in event["error"]
        assert d.notify.count("READY") == 0


def test_missing_watch_folder_exits_2(tmp_path: Path, db_url: str) -> None:
    """A watch folder that does not exist is a configuration error (exit 2)."""
    with DaemonProcess(tmp_path / "missing", db_url, log_dir=tmp_path) as d:
        assert d.wait_exit(30) == 2
        assert "is not an existing folder" in d.events("configuration_error")[0]["error"]


# -- the importer thread in-process, with a scripted ImportService --------------------------


@pytest.fixture
def run_importer(watch: Path) -> Iterator[Callable[[ScriptedService], ImporterThread]]:
    """Start an ImporterThread on a scripted service; stopped and joined afterwards."""
    threads: list[ImporterThread] = []
    settings = load_settings(
        {"database_url": "sqlite://", "settle": 0.3, "source_timezone": "UTC"}, environ={}
    )

    def start(service: ScriptedService) -> ImporterThread:
        queue = PathQueue()
        thread = ImporterThread(
            service=service,  # type: ignore[arg-type]
            queue=queue,
            watcher=DirectoryWatcher(watch, queue),
            settings=settings,
        )
        thread.start()
        threads.append(thread)
        return thread

    yield start
    for thread in threads:
        thread.stop()
        thread.join(5)
        assert not thread.is_alive()


def test_pending_file_comes_back_after_settle(watch: Path, run_importer: Any) -> None:
    """A pending last line is looked at again once the file has been quiet for settle."""
    path = write_csv(watch / "p.csv", make_rows(1))
    service = ScriptedService(result("pending", pending=10), result("imported", inserted=1))
    thread = run_importer(service)
    thread.queue.put(path)
    wait_for(lambda: len(service.calls), 2, timeout=5)
    assert service.calls[1] - service.calls[0] >= 0.25
    assert_stays(lambda: len(service.calls), 2, 0.5, "import calls")


def test_settled_incomplete_line_costs_nothing_until_a_change(
    watch: Path, run_importer: Any
) -> None:
    """Still pending after the settle period: one more look, then nothing (not even on a
    rescan) until the file changes."""
    path = write_csv(watch / "p.csv", make_rows(1))
    os.utime(path, (time.time() - 60, time.time() - 60))
    service = ScriptedService(result("pending", pending=10))
    thread = run_importer(service)
    thread.queue.put(path)
    wait_for(lambda: len(service.calls), 2, timeout=5)
    thread.queue.put(path)  # a periodic rescan: only a stat
    assert_stays(lambda: len(service.calls), 2, 1.0, "import calls")
    append(path, "more")
    thread.queue.put(path)  # the change's event
    wait_for(lambda: len(service.calls), 3, timeout=5)


def test_database_outage_keeps_the_path_and_retries(watch: Path, run_importer: Any) -> None:
    """OperationalError: the path is kept, retried with backoff, reported, then imported."""
    path = write_csv(watch / "d.csv", make_rows(1))
    down = OperationalError("INSERT", {}, Exception("database is locked"))
    service = ScriptedService(down, down, result("imported", inserted=1))
    thread = run_importer(service)
    thread.queue.put(path)
    wait_for(lambda: thread.describe().startswith("database unavailable"), True, timeout=5)
    wait_for(lambda: thread.rows_inserted, 1, timeout=10)
    assert len(service.calls) == 3
    assert thread.db_error is None
    assert thread.describe().startswith("idle")


def test_unreadable_file_is_retried_with_backoff(
    watch: Path, run_importer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that cannot be read yet comes back later, with growing delays."""
    monkeypatch.setattr(importer_thread_module, "FILE_RETRY_FIRST", 0.1)
    path = write_csv(watch / "u.csv", make_rows(1))
    locked = result("error")
    service = ScriptedService(locked, locked, result("imported", inserted=1))
    thread = run_importer(service)
    thread.queue.put(path)
    wait_for(lambda: thread.rows_inserted, 1, timeout=5)
    first, second, third = service.calls
    assert second - first >= 0.09
    assert third - second >= 0.19


def test_rescan_does_not_cut_a_backoff_short_but_a_change_does(
    watch: Path, run_importer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Re-queued by a rescan while waiting to retry: skipped; after a chmod: tried now."""
    monkeypatch.setattr(importer_thread_module, "FILE_RETRY_FIRST", 30.0)
    path = write_csv(watch / "u.csv", make_rows(1))
    service = ScriptedService(result("error"), result("imported", inserted=1))
    thread = run_importer(service)
    thread.queue.put(path)
    wait_for(lambda: len(service.calls), 1, timeout=5)
    thread.queue.put(path)
    assert_stays(lambda: len(service.calls), 1, 0.5, "import calls")
    path.chmod(0o600)
    thread.queue.put(path)
    wait_for(lambda: thread.rows_inserted, 1, timeout=5)


def test_vanished_file_is_not_retried(watch: Path, run_importer: Any) -> None:
    """A file deleted before it could be read is forgotten, not retried forever."""
    service = ScriptedService(result("error"))
    thread = run_importer(service)
    thread.queue.put(watch / "gone.csv")
    wait_for(lambda: len(service.calls), 1, timeout=5)
    assert_stays(lambda: len(service.calls), 1, 1.2, "import calls")


def test_stop_interrupts_a_large_import_between_batches(watch: Path, run_importer: Any) -> None:
    """stop() ends an import at the next batch boundary, the thread exits, and the rows
    the interrupted import committed count in the run's totals."""
    path = write_csv(watch / "big.csv", make_rows(1))
    service = ScriptedService("batches")  # type: ignore[arg-type]
    with capture_logs() as logs:
        thread = run_importer(service)
        thread.queue.put(path)
        wait_for(lambda: thread.current, path, timeout=5)
        thread.stop()
        thread.join(5)
    assert not thread.is_alive()
    (event,) = [e for e in logs if e["event"] == "import_interrupted"]
    assert event["status"] == "interrupted"
    assert event["inserted"] > 0
    # The rows the interrupted import committed count in the run's totals.
    assert thread.files_imported == 1
    assert thread.rows_inserted == event["inserted"]


def test_finished_paths_leave_no_state_behind(
    watch: Path, run_importer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A path that failed once and then imported keeps no per-path state (no timer, no
    backoff), so a long run over many files does not collect them."""
    monkeypatch.setattr(importer_thread_module, "FILE_RETRY_FIRST", 0.1)
    path = write_csv(watch / "u.csv", make_rows(1))
    service = ScriptedService(result("error"), result("imported", inserted=1))
    thread = run_importer(service)
    thread.queue.put(path)
    wait_for(lambda: thread.rows_inserted, 1, timeout=5)
    wait_for(lambda: thread.current, None, timeout=5)
    wait_for(lambda: dict(thread._paths), {}, timeout=5)
    assert thread.timers == 0
    assert thread.waiting == 0
