"""The importer thread's timers, stepped with ``now`` like ``MainLoop.step(now)``.

The thread is not started: each test calls ``step(now)`` with a fake clock that says the
same ``now``, on a scripted service, so a settle period or a backoff is stepped over rather
than waited out, and the assertions name the exact step at which a file comes back.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from csv_import_daemon.config.settings import load_settings
from csv_import_daemon.daemon.importer_thread import FILE_RETRY_FIRST, ImporterThread
from csv_import_daemon.daemon.watcher import DirectoryWatcher, PathQueue
from support.rows import make_rows, write_csv
from support.scripted import ScriptedService, result

SETTLE = 30.0  # long beside any pause of the test itself: the wall clock cannot catch up


class Clock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def watch(tmp_path: Path) -> Path:
    folder = tmp_path / "watch"
    folder.mkdir()
    return folder


def _thread(watch: Path, service: ScriptedService, clock: Clock) -> ImporterThread:
    settings = load_settings(
        {"database_url": "sqlite://", "settle": SETTLE, "source_timezone": "UTC"}, environ={}
    )
    queue = PathQueue()
    return ImporterThread(
        service=service,  # type: ignore[arg-type]
        queue=queue,
        watcher=DirectoryWatcher(watch, queue),
        settings=settings,
        clock=clock,
    )


def _step(thread: ImporterThread, clock: Clock, now: float) -> None:
    clock.now = now
    thread.step(now)


@pytest.mark.daemon
def test_a_pending_file_comes_back_when_its_settle_period_ends(watch: Path) -> None:
    """Just written, its last line pending: not looked at again before ``settle`` has
    passed, looked at again at the first step after it."""
    path = write_csv(watch / "p.csv", make_rows(1))
    now = time.time()
    os.utime(path, (now, now))
    service = ScriptedService(result("pending", pending=10), result("imported", inserted=1))
    clock = Clock()
    thread = _thread(watch, service, clock)
    thread.queue.put(path)
    _step(thread, clock, 0.0)
    assert len(service.calls) == 1
    assert thread.timers == 1
    _step(thread, clock, SETTLE - 5)
    assert len(service.calls) == 1
    _step(thread, clock, SETTLE + 1)
    assert len(service.calls) == 2
    assert thread.rows_inserted == 1
    assert thread.timers == 0


@pytest.mark.daemon
def test_an_unreadable_file_is_retried_after_doubling_delays(watch: Path) -> None:
    """A file that cannot be read comes back after FILE_RETRY_FIRST, then twice that; not
    a step earlier."""
    path = write_csv(watch / "u.csv", make_rows(1))
    service = ScriptedService(result("error"), result("error"), result("imported", inserted=1))
    clock = Clock()
    thread = _thread(watch, service, clock)
    thread.queue.put(path)
    _step(thread, clock, 0.0)
    first_retry = FILE_RETRY_FIRST
    second_retry = first_retry + 2 * FILE_RETRY_FIRST
    _step(thread, clock, first_retry - 0.01)
    assert len(service.calls) == 1
    _step(thread, clock, first_retry)
    assert len(service.calls) == 2
    _step(thread, clock, second_retry - 0.01)
    assert len(service.calls) == 2
    _step(thread, clock, second_retry)
    assert len(service.calls) == 3
    assert thread.rows_inserted == 1
    assert (thread.timers, dict(thread._paths)) == (0, {})


@pytest.mark.daemon
def test_a_rescan_does_not_cut_a_backoff_short(watch: Path) -> None:
    """Queued again by a rescan while its retry timer runs, unchanged: skipped."""
    path = write_csv(watch / "u.csv", make_rows(1))
    service = ScriptedService(result("error"), result("imported", inserted=1))
    clock = Clock()
    thread = _thread(watch, service, clock)
    thread.queue.put(path)
    _step(thread, clock, 0.0)
    thread.queue.put(path)  # the rescan
    _step(thread, clock, FILE_RETRY_FIRST / 2)
    assert len(service.calls) == 1
    _step(thread, clock, FILE_RETRY_FIRST)
    assert len(service.calls) == 2
