"""The importer thread: the only database writer, one file at a time off the path queue.

A path whose last line is pending comes back once ``settle`` seconds have passed since its
last change; an unreadable file comes back with backoff. Both wait in ``PathTimers``, so
nothing runs while nothing changes.

``step(now)`` is one turn of the loop at monotonic time ``now`` (``run`` calls it with the
clock and waits for work; tests call it with their own ``now`` and a clock that says the
same, so timers are stepped rather than waited out). A backlog is imported as a
``BatchImport``: small files share one write session. The heartbeat is written here only
between sessions, and by the sessions themselves inside their commits: never on a second
connection while this thread's own transaction holds SQLite's write lock.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.exc import OperationalError, SQLAlchemyError

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.daemon.backoff import Backoff
from csv_import_daemon.daemon.db_outage import DbOutage
from csv_import_daemon.daemon.metrics import Metrics
from csv_import_daemon.daemon.path_state import PathState, failed_version, mtime_of
from csv_import_daemon.daemon.path_timers import PathTimers
from csv_import_daemon.daemon.watcher import DirectoryWatcher, PathQueue
from csv_import_daemon.db.heartbeat import Heartbeat
from csv_import_daemon.db.writable import is_write_refused
from csv_import_daemon.files.names import path_key
from csv_import_daemon.files.quiet_period import seconds_until_settled
from csv_import_daemon.files.reader import FileStat
from csv_import_daemon.importing.batch_import import BatchImport
from csv_import_daemon.importing.result import Counts, ImportResult, ImportStatus
from csv_import_daemon.importing.write_session import GROUP_FILES
from csv_import_daemon.logs import get_logger

if TYPE_CHECKING:
    from csv_import_daemon.daemon.archiver import Archiver
    from csv_import_daemon.importing.service import ImportService

log = get_logger(__name__)

DB_RETRY_FIRST = 0.5  # first wait while the database is unavailable; doubles
DB_RETRY_MAX = 30.0  # cap of that backoff
FILE_RETRY_FIRST = 1.0  # first delay for a file that cannot be read yet; doubles each time
FILE_RETRY_MAX = 300.0  # cap of that backoff
SETTLE_MARGIN = 0.05  # look again just after the settle period, not just before


class ImporterThread(threading.Thread):
    """Takes paths off the queue and imports them; ``stop()`` ends it between batches."""

    def __init__(
        self,
        *,
        service: ImportService,
        queue: PathQueue,
        watcher: DirectoryWatcher,
        settings: Settings,
        archiver: Archiver | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``metrics``: what /metrics serves (with metrics_address). ``clock``: monotonic
        seconds, for the timers. The service's heartbeat is beaten only from this thread,
        the one database writer: here between sessions, by the sessions in their commits."""
        super().__init__(name="importer", daemon=True)
        self.service = service
        self.queue = queue
        self.watcher = watcher
        self.settings = settings
        self.archiver = archiver
        self.metrics = metrics
        self.heartbeat: Heartbeat | None = service.heartbeat
        self.clock = clock
        self.stopping = threading.Event()
        self._timers = PathTimers()
        # Read by the main loop for STATUS=; plain attribute writes are atomic.
        self.current: Path | None = None
        self._busy_at: float | None = None  # when the current import began or last waited
        self._batch: BatchImport | None = None  # the backlog being imported, if any
        self._outage = DbOutage(service.commits)
        self.files_imported = 0
        self.committed = Counts()  # this run's rows, committed ones only

    @property
    def rows_inserted(self) -> int:
        return self.committed.inserted

    @property
    def alive_at(self) -> float | None:
        """Monotonic time of the current import's last sign of life (its start, a database
        retry, a commit); None between imports. The main loop watches it for a stall."""
        busy = self._busy_at
        if busy is None:
            return None
        return max(busy, self.service.commits.at)

    @property
    def db_error(self) -> str | None:
        """The database problem being waited out, or None (see ``DbOutage``)."""
        return self._outage.error

    @property
    def db_problem(self) -> str | None:
        """What kind of database problem, for /healthz."""
        return self._outage.problem

    def stop(self) -> None:
        """Stop after the current batch; wakes the thread if it waits for work."""
        self.stopping.set()
        self.queue.close()

    @property
    def waiting(self) -> int:
        """Files queued or waiting on a timer."""
        return len(self.queue) + self.timers

    def run(self) -> None:
        while not self.stopping.is_set():
            self.step(self.clock(), wait=True)
        self._beat(stopped=True)

    def step(self, now: float, *, wait: bool = False) -> None:
        """One turn at monotonic time ``now``: beat if due, queue the paths whose timer is
        due, take the next path (with ``wait``, waiting up to the next timer or beat) and
        import it together with the paths queued behind it."""
        self._beat()
        path = self._next(now, wait=wait)
        if path is None:
            return
        more = [path]  # a backlog (start-up, a copied folder): small files share commits
        while len(more) < GROUP_FILES and (queued := self.queue.get(0)) is not None:
            more.append(queued)
        for path in self._import_group(list(dict.fromkeys(more))):
            try:
                self._process(path)
            except Exception as exc:  # the thread must outlive any one file's surprise
                log.exception("import_crashed", file=path_key(path), error=str(exc))
                self._retry_later(path)
            finally:
                self._tidy(path)

    def _skip(self, path: Path) -> bool:
        if not self.watcher.accepts(path):
            return True
        state = self._paths.get(path)
        return state is not None and (state.still_settled(path) or state.backing_off(path))

    def _import_group(self, paths: list[Path]) -> list[Path]:
        """Import ``paths`` together where the service can; the paths left to do one by one
        (all of them when sharing does not apply or the batch was rolled back)."""
        todo = [p for p in paths if not self._skip(p)]
        if len(todo) < 2 or not self.service.shares_transactions:  # PostgreSQL: alone
            return todo
        modified = {p: mtime_of(p) for p in todo}
        done = 0
        self._batch = batch = self.service.import_many(todo, should_stop=self.stopping.is_set)
        self._busy_at = self.clock()
        try:
            for path, result in batch:
                done += 1
                self._handle(path, result)
                self._count(result, modified[path])
                self._tidy(path)
        except Exception as exc:  # rolled back: the rest alone, with the usual retries
            log.warning("group_rolled_back", files=len(todo) - done, error=str(exc))
        finally:
            self._batch = self._busy_at = None
        if done:
            self._outage.back()
        return [] if self.stopping.is_set() else todo[done:]

    # -- heartbeat ---------------------------------------------------------------------------

    def _beat(self, *, stopped: bool = False) -> None:
        """Write the heartbeat when due, between sessions (none is open here); an outage
        only delays it (imports report that)."""
        if self.heartbeat is None:
            return
        try:
            if stopped:
                self.heartbeat.stopped()
            else:
                self.heartbeat.beat()
        except SQLAlchemyError as exc:
            log.debug("heartbeat_failed", error=str(exc).splitlines()[0])

    def _heartbeat_wait(self, timeout: float | None) -> float | None:
        """Wake for the next heartbeat even when no file is due."""
        if self.heartbeat is None:
            return timeout
        due = self.heartbeat.due_in()
        return due if timeout is None else min(timeout, due)

    # -- per-path state and timers -----------------------------------------------------------

    @property
    def timers(self) -> int:
        """Paths whose timer is set."""
        return self._timers.count

    @property
    def _paths(self) -> dict[Path, PathState]:
        return self._timers.states

    def _state(self, path: Path) -> PathState:
        return self._timers.state(path)

    def _tidy(self, path: Path) -> None:
        self._timers.tidy(path)

    def schedule(self, path: Path, delay: float) -> None:
        """Queue ``path`` again after ``delay`` seconds (a later call replaces an earlier)."""
        self._timers.schedule(path, self.clock() + max(0.0, delay))

    def _next(self, now: float, *, wait: bool) -> Path | None:
        for path in self._timers.pop_due(now):
            self.queue.put(path)
        if not wait:
            return self.queue.get(0)
        return self.queue.get(self._heartbeat_wait(self._timers.next_in(now)))

    def _forget(self, path: Path) -> None:
        self._timers.forget(path)

    # -- one file ----------------------------------------------------------------------------

    def _process(self, path: Path) -> None:
        if self._skip(path):
            return
        self.current, self._busy_at = path, self.clock()
        modified_at = mtime_of(path)
        try:
            result = self._import(path)
        finally:
            self.current = self._busy_at = None
        if result is not None:
            self._handle(path, result)
            self._count(result, modified_at)

    def _import(self, path: Path) -> ImportResult | None:
        """Import ``path``, waiting out a database outage; None when stopped or crashed."""
        backoff = Backoff(DB_RETRY_FIRST, DB_RETRY_MAX)
        while True:
            try:
                result = self.service.import_file(path, should_stop=self.stopping.is_set)
            except Exception as exc:  # sorted below: the thread must outlive any surprise
                # A refused write may come raw from the driver (the PostgreSQL COPY path).
                refused = is_write_refused(self.service.engine, exc)
                if not (refused or isinstance(exc, OperationalError)):
                    # A bug, bad data, a constraint: survive, retry later.
                    log.exception("import_crashed", file=path_key(path), error=str(exc))
                    self._retry_later(path)
                    return None
                # Unreachable, locked or read-only: every file would fail, so wait here and
                # keep this path; the rest of the queue waits behind it.
                error = self._outage.down(self.service.engine, exc, refused=refused)
                delay = backoff.next()
                log.warning(
                    "database_unavailable",
                    file=path_key(path),
                    error=error,
                    retry_in=delay,
                )
                if self.stopping.wait(delay):
                    return None
                self._busy_at = self.clock()  # waiting out an outage is not a stall
                continue
            self._outage.back()
            return result

    def _count(self, result: ImportResult, modified_at: float | None) -> None:
        """This run's totals (``stop``, ``STATUS=``) and the metrics: committed rows only,
        an interrupted import's included."""
        if result.status in (ImportStatus.IMPORTED, ImportStatus.INTERRUPTED):
            self.files_imported += 1
        self.committed += result.counts
        if self.metrics is not None:
            self.metrics.record_import(result, modified_at=modified_at)

    def _handle(self, path: Path, result: ImportResult) -> None:
        status = result.status
        if status == ImportStatus.INTERRUPTED:  # stopping: the rest is read at the next start
            log.info("import_interrupted", **result.as_dict())
            return
        if status == ImportStatus.ERROR:
            self._unreadable(path, result)
            return
        state = self._state(path)
        state.retry = state.failed_as = None
        for waiting in result.settles:  # their held-back rows: this file settles their order
            self.service.known.forget(path_key(waiting))
            self.queue.put(waiting)
        if status == ImportStatus.IMPORTED:
            # A touch or a header alone reads no row: not worth an info line.
            (log.info if result.rows_read else log.debug)("import", **result.as_dict())
        elif status == ImportStatus.REFUSED:
            problem = (str(status), result.message)
            if state.problem != problem:  # once, not at every rescan
                state.problem = problem
                log.warning("import_refused", **result.as_dict())
        elif status in (ImportStatus.PENDING, ImportStatus.EMPTY):
            log.debug("import", **result.as_dict())
        if status == ImportStatus.PENDING or result.pending_bytes:
            self._wait_for_settle(path)
        elif self.archiver is not None and not self.watcher.is_archived(path):
            new, quiet_left = self.archiver.consider(path, result)
            if new is not None:
                self._forget(path)
                self.queue.put(new)  # anything appended during the move
            elif quiet_left is not None:
                self.schedule(path, quiet_left + SETTLE_MARGIN)

    def _unreadable(self, path: Path, result: ImportResult) -> None:
        if not os.path.lexists(path):
            self._forget(path)  # deleted or moved away: its new name has its own event
            log.debug("file_vanished", file=result.path)
            return
        delay = self._retry_later(path)
        self._state(path).failed_as = failed_version(path)
        log.warning("file_unreadable", retry_in=delay, **result.as_dict())

    def _wait_for_settle(self, path: Path) -> None:
        """Come back once the file has been quiet for ``settle`` seconds, once per version."""
        try:
            st = os.stat(path)
        except OSError:
            return
        remaining = seconds_until_settled(st.st_mtime_ns, self.settings.settle, time.time())
        if remaining > 0:
            self.schedule(path, remaining + SETTLE_MARGIN)
            return
        state = self._state(path)
        version = FileStat.of(st)
        if state.looked != version:
            # The import may have decided just before the settle period ended: look once
            # more. A last line that is still incomplete then waits for the next change.
            state.looked = version
            self.schedule(path, SETTLE_MARGIN)
        else:
            state.settled = version

    def _retry_later(self, path: Path) -> float:
        state = self._state(path)
        if state.retry is None:
            state.retry = Backoff(FILE_RETRY_FIRST, FILE_RETRY_MAX)
        delay = state.retry.next()
        self.schedule(path, delay)
        return delay

    def describe(self) -> str:
        """One line for ``STATUS=``."""
        waiting = self.waiting
        if (error := self.db_error) is not None:
            return f"database unavailable, retrying: {error}; {waiting} files waiting"
        batch = self._batch
        current = self.current or (batch.current if batch is not None else None)
        if current is not None:
            return f"importing {current.name}; {waiting} more files queued"
        return (
            f"idle; {self.files_imported} imports, {self.rows_inserted} new rows "
            f"since start; {waiting} files waiting"
        )
