"""The main thread's periodic duties, one ``step(now)`` at a time.

Each step pings the systemd watchdog when due, checks that the importer thread lives,
restarts a dead observer (with backoff), runs requested and periodic rescans, tells the
journal page's writer when the importer committed, and updates ``STATUS=``. The time comes
in as an argument, so tests step the loop with a fake clock instead of sleeping; the
daemon calls ``step(time.monotonic())`` every ``tick`` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.daemon.backoff import Backoff
from csv_import_daemon.daemon.metrics import Metrics
from csv_import_daemon.daemon.notify import Notifier
from csv_import_daemon.daemon.report_writer import ReportWriter
from csv_import_daemon.daemon.watcher import DirectoryWatcher, PathQueue
from csv_import_daemon.errors import ImporterDiedError
from csv_import_daemon.logs import get_logger

log = get_logger(__name__)

TICK = 0.5  # seconds between main-loop steps
OBSERVER_RETRY = 5.0  # first delay before restarting a dead observer again; doubles
OBSERVER_RETRY_MAX = 300.0  # cap, so an unmounted share is not a log line every 5 s
# An import with no sign of life (a committed batch, a database retry) for this long is
# stuck: /healthz turns 503 and WATCHDOG=1 stops, so systemd restarts the service. A batch
# commits in well under a second; a large file's round-trip refresh takes seconds.
IMPORTER_STALL = 300.0


class Importer(Protocol):
    """What the main loop needs of the importer thread."""

    @property
    def db_error(self) -> str | None: ...  # the database problem being waited out, or None

    @property
    def db_problem(self) -> str | None: ...  # what kind, for /healthz (None: not said)

    @property
    def alive_at(self) -> float | None: ...  # the current import's last sign of life

    # These grow with each commit (the journal page follows them).
    files_imported: int

    @property
    def rows_inserted(self) -> int: ...

    @property
    def waiting(self) -> int: ...  # files queued or waiting on a timer

    def is_alive(self) -> bool: ...

    def describe(self) -> str: ...


# The files of a scan worth queueing (known_files: only those changed since their commit).
PathFilter = Callable[[list[Path]], list[Path]]


def rescan(
    queue: PathQueue, watcher: DirectoryWatcher, reason: str, only: PathFilter | None = None
) -> int:
    """Queue the files the folder holds (those ``only`` keeps); how many were not queued
    already."""
    started = time.perf_counter()
    paths = watcher.scan()
    queued = sum(queue.put(p) for p in (only(paths) if only is not None else paths))
    # The periodic rescan is routine: keep an idle daemon's log quiet.
    emit = log.debug if reason == "periodic" else log.info
    emit(
        "rescan",
        reason=reason,
        files=len(paths),
        queued=queued,
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return queued


@dataclass(frozen=True, slots=True)
class LoopParts:
    """The daemon's parts the main loop looks after."""

    notifier: Notifier
    queue: PathQueue
    watcher: DirectoryWatcher
    importer: Importer
    metrics: Metrics | None = None  # when metrics are served
    only: PathFilter | None = None  # the rescan filter
    report: ReportWriter | None = None  # with report_path: the journal page


class MainLoop:
    """The due times of the periodic duties, and ``step`` to do those that are due."""

    def __init__(
        self, settings: Settings, parts: LoopParts, *, ping: float | None, now: float
    ) -> None:
        self.metrics = parts.metrics
        self.report = parts.report
        self.only = parts.only
        self.notifier = parts.notifier
        self.queue = parts.queue
        self.watcher = parts.watcher
        self.importer = parts.importer
        self.ping = ping  # seconds between WATCHDOG=1; None when systemd does not ask
        self.tick = min(TICK, ping) if ping else TICK
        self.rescan_interval = settings.rescan_interval
        self.next_rescan = now + self.rescan_interval if self.rescan_interval > 0 else None
        self.next_ping = now
        self.next_observer_try = now
        self.observer_backoff = Backoff(OBSERVER_RETRY, OBSERVER_RETRY_MAX)
        self.last_status = ""
        self.stall_after = IMPORTER_STALL
        self.stalled = False

    def step(self, now: float) -> None:
        """Do what is due at monotonic time ``now``; raises ``ImporterDiedError`` when the
        daemon must end."""
        self._check_stall(now)
        if self.ping is not None and now >= self.next_ping and not self.stalled:
            self.notifier.watchdog()
            self.next_ping = now + self.ping
        if not self.importer.is_alive():
            log.error("importer_died")
            raise ImporterDiedError("the importer thread died")
        if not self.watcher.is_alive() and now >= self.next_observer_try:
            self._restart_observer(now)
        if self.queue.take_scan_request():
            rescan(self.queue, self.watcher, "requested", self.only)
        if self.next_rescan is not None and now >= self.next_rescan:
            rescan(self.queue, self.watcher, "periodic", self.only)
            self.next_rescan = now + self.rescan_interval
        if self.metrics is not None:
            self.metrics.set_state(
                database_up=self.importer.db_error is None,
                database_problem=self.importer.db_problem,
                observer_up=self.watcher.is_alive(),
                backlog=self.importer.waiting,
                importer_up=not self.stalled,
            )
        if self.report is not None:
            self.report.note((self.importer.files_imported, self.importer.rows_inserted))
        status = self.importer.describe()
        if status != self.last_status:
            self.notifier.status(status)
            self.last_status = status

    def _check_stall(self, now: float) -> None:
        alive_at = self.importer.alive_at
        stalled = alive_at is not None and now - alive_at > self.stall_after
        if stalled and not self.stalled:
            log.error(
                "importer_stalled",
                seconds=round(now - alive_at, 1) if alive_at is not None else None,
                hint="no progress in the current import; the watchdog pings stop so "
                "systemd restarts the service",
            )
        elif self.stalled and not stalled:
            log.info("importer_resumed")
        self.stalled = stalled

    def _restart_observer(self, now: float) -> None:
        try:
            self.watcher.restart()
        except OSError as exc:
            delay = self.observer_backoff.next()
            log.error("observer_restart_failed", error=exc.strerror or str(exc), retry_in=delay)
            self.next_observer_try = now + delay
        else:
            log.warning("observer_restarted")
            self.observer_backoff.reset()
            self.queue.request_scan()  # events were lost while it was down
