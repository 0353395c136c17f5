"""The main loop stepped with a fake clock: a real watcher and queue on tmp_path, a real
notify socket; time is an argument, so nothing here sleeps to let time pass."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from csv_import_daemon.config.settings import load_settings
from csv_import_daemon.daemon.main_loop import IMPORTER_STALL, OBSERVER_RETRY, LoopParts, MainLoop
from csv_import_daemon.daemon.metrics import Metrics
from csv_import_daemon.daemon.notify import Notifier
from csv_import_daemon.daemon.watcher import DirectoryWatcher, PathQueue
from csv_import_daemon.errors import ExitCode, ImporterDiedError, exit_code_for
from support.notify import NotifyListener
from support.rows import make_rows, write_csv

# Every test here starts the daemon subprocess or a real observer.
pytestmark = pytest.mark.daemon

T0 = 1000.0  # the fake monotonic clock starts here
RESCAN = 60.0


class Importer:
    """The two things the main loop asks of the importer thread."""

    def __init__(self) -> None:
        self.alive = True
        self.alive_at: float | None = None
        self.db_error: str | None = None
        self.db_problem: str | None = None
        self.waiting = 0
        self.files_imported = 0
        self.rows_inserted = 0
        self.status = "idle; 0 imports, 0 new rows since start; 0 files waiting"

    def is_alive(self) -> bool:
        return self.alive

    def describe(self) -> str:
        return self.status


class Harness:
    """A MainLoop on a real folder, queue, observer and notify socket."""

    def __init__(self, folder: Path, *, ping: float | None = None) -> None:
        self.folder = folder
        self.queue = PathQueue()
        self.watcher = DirectoryWatcher(folder, self.queue)
        self.listener = NotifyListener()
        self.notifier = Notifier("\0" + self.listener.address[1:])
        self.importer = Importer()
        settings = load_settings(
            {"database_url": "sqlite://", "rescan_interval": RESCAN, "source_timezone": "UTC"},
            environ={},
        )
        parts = LoopParts(
            notifier=self.notifier,
            queue=self.queue,
            watcher=self.watcher,
            importer=self.importer,
        )
        self.loop = MainLoop(settings, parts, ping=ping, now=T0)
        self._marks = itertools.count()

    def step(self, now: float) -> None:
        """One step, then a marker datagram: once it arrived, so did the step's messages."""
        self.loop.step(now)
        mark = str(next(self._marks))
        self.notifier.send(f"MARK={mark}")
        self.listener.wait_for("MARK", mark, timeout=5)

    def queued(self) -> list[Path]:
        out = []
        while (path := self.queue.get(0)) is not None:
            out.append(path)
        return out

    def close(self) -> None:
        self.watcher.stop()
        self.notifier.close()
        self.listener.close()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    folder = tmp_path / "watch"
    folder.mkdir()
    h = Harness(folder, ping=10.0)
    yield h
    h.close()


def _events(logs: Sequence[Mapping[str, Any]], name: str) -> list[Mapping[str, Any]]:
    return [e for e in logs if e["event"] == name]


def test_periodic_rescan_queues_files_only_when_due(harness: Harness) -> None:
    """A file the observer never reported is queued by the rescan at rescan_interval, not
    before, and the next rescan waits a full interval again."""
    path = write_csv(harness.folder / "a.csv", make_rows(1))  # before the observer: no event
    harness.watcher.start()
    harness.step(T0)  # goes on: an end would raise
    harness.step(T0 + RESCAN - 0.1)  # goes on: an end would raise
    assert harness.queued() == []
    harness.step(T0 + RESCAN)  # goes on: an end would raise
    assert harness.queued() == [path]
    harness.step(T0 + 2 * RESCAN - 0.1)  # goes on: an end would raise
    assert harness.queued() == []
    harness.step(T0 + 2 * RESCAN)  # goes on: an end would raise
    assert harness.queued() == [path]


def test_watchdog_ping_is_sent_when_due(harness: Harness) -> None:
    """WATCHDOG=1 at the first step, then once per ping interval, not at every step."""
    harness.watcher.start()
    harness.step(T0)
    assert harness.listener.count("WATCHDOG", "1") == 1
    harness.step(T0 + 5)
    harness.step(T0 + 9.9)
    assert harness.listener.count("WATCHDOG", "1") == 1
    harness.step(T0 + 10)
    assert harness.listener.count("WATCHDOG", "1") == 2
    harness.step(T0 + 19.9)
    assert harness.listener.count("WATCHDOG", "1") == 2
    harness.step(T0 + 20)
    assert harness.listener.count("WATCHDOG", "1") == 3


def test_a_stuck_import_stops_the_watchdog_and_turns_health_503(harness: Harness) -> None:
    """An import with no sign of life for IMPORTER_STALL seconds: WATCHDOG=1 stops (systemd
    restarts the service), /healthz's state says why; progress brings both back."""
    harness.watcher.start()
    harness.loop.metrics = metrics = Metrics()
    harness.importer.alive_at = T0
    with capture_logs() as logs:
        harness.step(T0)
        assert metrics.health()[0]
        harness.step(T0 + IMPORTER_STALL + 1)
        assert harness.listener.count("WATCHDOG", "1") == 1
        healthy, body = metrics.health()
        assert not healthy
        assert body["importer"] == "stuck"
        harness.step(T0 + IMPORTER_STALL + 20)
        assert harness.listener.count("WATCHDOG", "1") == 1
        assert len(_events(logs, "importer_stalled")) == 1
        harness.importer.alive_at = T0 + IMPORTER_STALL + 25  # a batch committed
        harness.step(T0 + IMPORTER_STALL + 30)
    assert harness.listener.count("WATCHDOG", "1") == 2
    assert metrics.health()[0]


def test_status_is_sent_only_when_it_changes(harness: Harness) -> None:
    """STATUS= goes out at the first step and after a change, not at every step."""
    harness.watcher.start()
    harness.step(T0)
    harness.step(T0 + 0.5)
    assert harness.listener.count("STATUS") == 1
    harness.importer.status = "importing a.csv; 0 more files queued"
    harness.step(T0 + 1)
    harness.step(T0 + 1.5)
    assert harness.listener.count("STATUS") == 2
    statuses = [m["STATUS"] for m in harness.listener.messages if "STATUS" in m]
    assert statuses[-1] == harness.importer.status


def test_dead_observer_is_restarted_with_backoff(harness: Harness) -> None:
    """A dead observer that cannot restart is tried again after 5 s, then 10 s...; once it
    restarts, a rescan finds what arrived meanwhile and the backoff starts from 5 s again."""
    harness.folder.rmdir()  # an unmounted share: the observer cannot start
    with capture_logs() as logs:
        harness.step(T0)
        harness.step(T0 + OBSERVER_RETRY - 0.1)
        harness.step(T0 + OBSERVER_RETRY)
        harness.step(T0 + 3 * OBSERVER_RETRY - 0.1)
    failed = _events(logs, "observer_restart_failed")
    assert [e["retry_in"] for e in failed] == [OBSERVER_RETRY, 2 * OBSERVER_RETRY]
    assert not harness.watcher.is_alive()

    harness.folder.mkdir()
    path = write_csv(harness.folder / "late.csv", make_rows(1))
    with capture_logs() as logs:
        harness.step(T0 + 3 * OBSERVER_RETRY)
    assert _events(logs, "observer_restarted")
    assert harness.watcher.is_alive()
    assert _events(logs, "rescan")[0]["reason"] == "requested"
    assert harness.queued() == [path]

    harness.watcher.stop()  # dies again: the delays start from the first one
    harness.folder.rename(harness.folder.with_name("away"))
    with capture_logs() as logs:
        harness.step(T0 + 3 * OBSERVER_RETRY + 1)
    assert [e["retry_in"] for e in _events(logs, "observer_restart_failed")] == [OBSERVER_RETRY]


def test_dead_importer_ends_the_loop_with_exit_1(harness: Harness) -> None:
    """The importer thread died: the step says exit 1 (systemd restarts the service)."""
    harness.watcher.start()
    harness.step(T0)  # goes on: an end would raise
    harness.importer.alive = False
    with capture_logs() as logs, pytest.raises(ImporterDiedError) as ended:
        harness.step(T0 + 0.5)
    assert exit_code_for(ended.value) == ExitCode.FILE_FAILED
    assert _events(logs, "importer_died")
