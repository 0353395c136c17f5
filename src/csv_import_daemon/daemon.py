"""The watching daemon: lifecycle in the main thread, imports in one writer thread.

Start: settings -> engine -> migrations -> importer thread -> observer -> start-up scan ->
``READY=1``. The main loop wakes every half second (an ``Event.wait`` with a timeout) to
check the stop flag, the observer and the importer, run the periodic rescan, ping the
systemd watchdog and update ``STATUS=``. Signal handlers only set a flag; a second signal
exits at once. Shutdown runs in reverse: ``STOPPING=1``, observer stopped and joined,
importer told to stop after its current batch, joined, exit 0.
"""

from __future__ import annotations

import heapq
import itertools
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from csv_import_daemon import __version__
from csv_import_daemon.archive import Archiver, month_folders
from csv_import_daemon.config import Settings
from csv_import_daemon.db.engine import describe_db_error, make_engine
from csv_import_daemon.db.migrate import prepare_database
from csv_import_daemon.errors import ConfigError, DatabaseUnavailableError, ExitCode
from csv_import_daemon.group import GROUP_FILES
from csv_import_daemon.importer import ImportService
from csv_import_daemon.known_files import KnownFiles
from csv_import_daemon.logs import get_logger
from csv_import_daemon.notify import Notifier, watchdog_interval
from csv_import_daemon.paths import path_key
from csv_import_daemon.result import ImportResult
from csv_import_daemon.watcher import DirectoryWatcher, PathQueue

log = get_logger(__name__)

TICK = 0.5  # seconds between main-loop checks
DB_RETRY_MAX = 30.0  # cap of the backoff while the database is unavailable
FILE_RETRY_FIRST = 1.0  # first delay for a file that cannot be read yet; doubles each time
FILE_RETRY_MAX = 300.0  # cap of that backoff
SETTLE_MARGIN = 0.05  # look again just after the settle period, not just before
OBSERVER_RETRY = 5.0  # first delay before restarting a dead observer again; doubles
OBSERVER_RETRY_MAX = 300.0  # cap, so an unmounted share is not a log line every 5 s
STOP_JOIN = 30.0  # how long shutdown waits for the importer's current batch


class _Cancelled(Exception):
    """Raised from the progress callback between two committed batches to stop an import."""


class ImporterThread(threading.Thread):
    """The only database writer: takes paths off the queue and imports them one at a time.

    A path whose last line is pending comes back once ``settle`` seconds have passed since
    its last change; an unreadable file comes back with backoff. Both wait in a heap of
    timers, so nothing runs while nothing changes.
    """

    def __init__(
        self,
        service: ImportService,
        queue: PathQueue,
        watcher: DirectoryWatcher,
        settings: Settings,
        archiver: Archiver | None,
    ) -> None:
        super().__init__(name="importer", daemon=True)
        self.service = service
        self.queue = queue
        self.watcher = watcher
        self.settings = settings
        self.archiver = archiver
        self.stopping = threading.Event()
        self._heap: list[tuple[float, int, Path]] = []
        self._due: dict[Path, float] = {}
        self._seq = itertools.count()
        self._failures: dict[Path, int] = {}
        self._failed_as: dict[Path, tuple[int, ...] | None] = {}  # file version at the failure
        self._last_problem: dict[Path, tuple[str, str]] = {}
        # File versions (device, inode, size, mtime) whose incomplete last line was looked
        # at after the settle period: the extra look, then the settled state itself.
        self._looked: dict[Path, tuple[int, ...]] = {}
        self._settled: dict[Path, tuple[int, ...]] = {}
        # Read by the main loop for STATUS=; plain attribute writes are atomic.
        self.current: Path | None = None
        self.db_error: str | None = None
        self.files_imported = 0
        self.rows_inserted = 0

    def stop(self) -> None:
        """Stop after the current batch; wakes the thread if it waits for work."""
        self.stopping.set()
        self.queue.close()

    @property
    def waiting(self) -> int:
        """Files queued or waiting on a timer."""
        return len(self.queue) + len(self._due)

    def run(self) -> None:
        while not self.stopping.is_set():
            path = self._next()
            if path is None:
                continue
            more = [path]  # a backlog (start-up, a copied folder): small files share commits
            while len(more) < GROUP_FILES and (queued := self.queue.get(0)) is not None:
                more.append(queued)
            for path in self._import_group(list(dict.fromkeys(more))):
                try:
                    self._process(path)
                except Exception as exc:  # the thread must outlive any one file's surprise
                    log.exception("import_crashed", file=path_key(path), error=str(exc))
                    self._retry_later(path)

    # -- timers ----------------------------------------------------------------------------

    def schedule(self, path: Path, delay: float) -> None:
        """Queue ``path`` again after ``delay`` seconds (a later call replaces an earlier)."""
        due = time.monotonic() + max(0.0, delay)
        self._due[path] = due
        heapq.heappush(self._heap, (due, next(self._seq), path))

    def _next(self) -> Path | None:
        now = time.monotonic()
        while self._heap and self._heap[0][0] <= now:
            due, _, path = heapq.heappop(self._heap)
            if self._due.get(path) == due:
                del self._due[path]
                self.queue.put(path)
        timeout = self._heap[0][0] - now if self._heap else None
        return self.queue.get(timeout)

    # -- one file --------------------------------------------------------------------------

    def _skip(self, path: Path) -> bool:
        return (
            not self.watcher.accepts(path) or self._still_settled(path) or self._backing_off(path)
        )

    def _import_group(self, paths: list[Path]) -> list[Path]:
        """Import ``paths`` together where the service can; the paths left to do one by one
        (all of them when grouping does not apply or the group was rolled back)."""
        todo = [p for p in paths if not self._skip(p)]
        if len(todo) < 2 or not getattr(self.service, "groups", False):  # PostgreSQL: alone
            return todo
        done = 0
        self.current = todo[0]
        try:
            for path, result in self.service.import_many(todo, should_stop=self.stopping.is_set):
                done += 1
                self._handle(path, result)
        except Exception as exc:  # rolled back: the rest alone, with the usual retries
            log.warning("group_rolled_back", files=len(todo) - done, error=str(exc))
        finally:
            self.current = None
        if done and self.db_error is not None:
            log.info("database_available")
            self.db_error = None
        return [] if self.stopping.is_set() else todo[done:]

    def _process(self, path: Path) -> None:
        if self._skip(path):
            return
        self.current = path
        try:
            result = self._import(path)
        finally:
            self.current = None
        if result is not None:
            self._handle(path, result)

    def _import(self, path: Path) -> ImportResult | None:
        """Import ``path``, waiting out a database outage; None when stopped or crashed."""
        backoff = 0.5
        while True:
            try:
                result = self.service.import_file(
                    path, progress=self._progress, should_stop=self.stopping.is_set
                )
            except _Cancelled:
                log.info("import_interrupted", file=path_key(path))
                return None
            except OperationalError as exc:
                # Unreachable, locked or read-only: every file would fail, so wait here and
                # keep this path; the rest of the queue waits behind it.
                self.db_error = describe_db_error(self.service.engine, exc)
                log.warning(
                    "database_unavailable",
                    file=path_key(path),
                    error=self.db_error,
                    retry_in=backoff,
                )
                if self.stopping.wait(backoff):
                    return None
                backoff = min(backoff * 2, DB_RETRY_MAX)
                continue
            except Exception as exc:  # a bug, bad data, a constraint: survive, retry later
                log.exception("import_crashed", file=path_key(path), error=str(exc))
                self._retry_later(path)
                return None
            if self.db_error is not None:
                log.info("database_available")
                self.db_error = None
            return result

    def _progress(self, done: int, total: int) -> None:
        # Called after each committed batch: the one safe place to give up a large file.
        if self.db_error is not None:
            # A batch was committed, so the database is back: STATUS= must not keep
            # reporting an outage for the rest of a large file.
            log.info("database_available")
            self.db_error = None
        if self.stopping.is_set():
            raise _Cancelled

    def _handle(self, path: Path, result: ImportResult) -> None:
        status = result.status
        if status == "interrupted":  # stopping: the rest is read at the next start
            log.info("import_interrupted", **result.as_dict())
            return
        if status == "error":
            if not os.path.lexists(path):
                self._forget(path)  # deleted or moved away: its new name has its own event
                log.debug("file_vanished", file=result.path)
                return
            delay = self._retry_later(path)
            self._failed_as[path] = _stat_version(path)
            log.warning("file_unreadable", retry_in=delay, **result.as_dict())
            return
        self._failures.pop(path, None)
        self._failed_as.pop(path, None)
        if status == "imported":
            self.files_imported += 1
            self.rows_inserted += result.inserted
            read = result.inserted + result.duplicates + result.rejected + result.conflicts
            # A touch or a header alone reads no row: not worth an info line.
            (log.info if read else log.debug)("import", **result.as_dict())
        elif status == "refused":
            problem = (status, result.message)
            if self._last_problem.get(path) != problem:  # once, not at every rescan
                self._last_problem[path] = problem
                log.warning("import_refused", **result.as_dict())
        elif status in ("pending", "empty"):
            log.debug("import", **result.as_dict())
        if status == "pending" or result.pending_bytes:
            self._wait_for_settle(path)
        elif self.archiver is not None and not self.watcher.is_archived(path):
            new, quiet_left = self.archiver.consider(path, result)
            if new is not None:
                self._forget(path)
                self.queue.put(new)  # anything appended during the move
            elif quiet_left is not None:
                self.schedule(path, quiet_left + SETTLE_MARGIN)

    def _wait_for_settle(self, path: Path) -> None:
        """Come back once the file has been quiet for ``settle`` seconds, once per version."""
        try:
            st = os.stat(path)
        except OSError:
            return
        remaining = self.settings.settle - (time.time() - st.st_mtime_ns / 1e9)
        if remaining > 0:
            self.schedule(path, remaining + SETTLE_MARGIN)
            return
        version = _version(st)
        if self._looked.get(path) != version:
            # The import may have decided just before the settle period ended: look once
            # more. A last line that is still incomplete then waits for the next change.
            self._looked[path] = version
            self.schedule(path, SETTLE_MARGIN)
        else:
            self._settled[path] = version

    def _backing_off(self, path: Path) -> bool:
        """An unreadable file waiting for its retry timer, unchanged since (not even its
        permissions): a rescan does not cut the backoff short, a real change does."""
        return (
            path in self._due
            and path in self._failed_as
            and self._failed_as[path] == _stat_version(path)
        )

    def _still_settled(self, path: Path) -> bool:
        """An incomplete last line already judged and the file unchanged: only a stat
        (rescans would otherwise read the tail and rewrite the checkpoint every time)."""
        version = self._settled.get(path)
        if version is None:
            return False
        try:
            if _version(os.stat(path)) == version:
                return True
        except OSError:
            pass
        del self._settled[path]
        return False

    def _retry_later(self, path: Path) -> float:
        failures = self._failures.get(path, 0) + 1
        self._failures[path] = failures
        delay = min(FILE_RETRY_FIRST * 2.0 ** (failures - 1), FILE_RETRY_MAX)
        self.schedule(path, delay)
        return delay

    def _forget(self, path: Path) -> None:
        self._failures.pop(path, None)
        self._failed_as.pop(path, None)
        self._last_problem.pop(path, None)
        self._settled.pop(path, None)
        self._looked.pop(path, None)
        self._due.pop(path, None)  # its heap entry is skipped when it comes up

    def describe(self) -> str:
        """One line for ``STATUS=``."""
        waiting = self.waiting
        if self.db_error is not None:
            return f"database unavailable, retrying: {self.db_error}; {waiting} files waiting"
        if self.current is not None:
            return f"importing {self.current.name}; {waiting} more files queued"
        return (
            f"idle; {self.files_imported} imports, {self.rows_inserted} new rows "
            f"since start; {waiting} files waiting"
        )


class Daemon:
    """Owns the lifecycle; ``run()`` returns the process exit code."""

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.environ = os.environ if environ is None else environ
        self.notifier = Notifier.from_environ(self.environ)
        self._signals = 0  # written only by the signal handler
        # Rescans queue only files changed since their commit (``known_files``); with
        # archiving, files still in the watched folder always come back to be considered.
        self._known = KnownFiles()
        self._look_anyway: Callable[[Path], bool] | None = None
        self._tick = threading.Event()  # never set: Event.wait is the main loop's clock

    # -- signals ---------------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        # Only a flag: setting a threading.Event here could deadlock with the main thread's
        # own Event.wait, and logging is not safe in a handler. The main loop polls the flag.
        self._signals += 1
        if self._signals > 1:
            os._exit(ExitCode.INTERRUPTED)

    def _install_signals(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)

    @property
    def stop_requested(self) -> bool:
        return self._signals > 0

    # -- start -------------------------------------------------------------------------------

    def _check_folders(self) -> tuple[Path, Path | None]:
        s = self.settings
        if s.watch_dir is None:
            raise ConfigError(
                "watch_dir: no folder to watch; use --watch DIR, watch_dir in the "
                "configuration file or CSV_IMPORT_WATCH_DIR"
            )
        root = Path(os.path.abspath(s.watch_dir))
        if not root.is_dir():
            raise ConfigError(f"watch_dir: {root} is not an existing folder")
        if s.archive_dir is None:
            return root, None
        archive = Path(os.path.abspath(s.archive_dir))
        if archive == root or root.is_relative_to(archive):
            raise ConfigError(
                f"archive_dir: {archive} must not be the watched folder or "
                "contain it; use a folder beside it"
            )
        try:
            archive.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"archive_dir: cannot create {archive}: {exc.strerror}") from None
        return root, archive

    def run(self) -> int:
        self._install_signals()
        try:
            root, archive = self._check_folders()
        except ConfigError as exc:
            log.error("configuration_error", error=str(exc))
            return ExitCode.USAGE
        s = self.settings
        try:
            engine = make_engine(s)
        except ConfigError as exc:
            log.error("configuration_error", error=str(exc))
            return ExitCode.USAGE
        log.info(
            "start",
            version=__version__,
            pid=os.getpid(),
            watch_dir=str(root),
            archive_dir=str(archive) if archive else None,
            database=engine.url.render_as_string(hide_password=True),
            polling=s.polling,
            recursive=s.recursive,
            settle=s.settle,
            rescan_interval=s.rescan_interval,
            instance=s.instance_name,
        )
        try:
            return self._run_with(engine, root, archive)
        finally:
            engine.dispose()
            self.notifier.close()

    def _run_with(self, engine: Engine, root: Path, archive: Path | None) -> int:
        s = self.settings
        self.notifier.status("connecting to the database and migrating")
        try:
            prepare_database(engine, s)
        except DatabaseUnavailableError as exc:
            log.error("database_unavailable", error=str(exc))
            return ExitCode.DATABASE_UNAVAILABLE
        except (OperationalError, DBAPIError) as exc:
            log.error("database_unavailable", error=describe_db_error(engine, exc))
            return ExitCode.DATABASE_UNAVAILABLE
        if self.stop_requested:
            log.info("stop", exit_code=0, reason="signal during start-up")
            return ExitCode.OK

        service = ImportService(engine, s)
        self._known = service.known
        service.load_known()
        queue = PathQueue()
        watcher = DirectoryWatcher(
            root, queue, recursive=s.recursive, polling=s.polling, archive_dir=archive
        )
        archiver = None
        if archive is not None:
            for folder in month_folders(archive):
                watcher.watch(folder)
            archiver = Archiver(s, service, watcher)
            self._look_anyway = lambda path: not watcher.is_archived(path)
        importer = ImporterThread(service, queue, watcher, s, archiver)
        importer.start()
        try:
            watcher.start()
        except OSError as exc:
            log.error("watch_failed", watch_dir=str(root), error=exc.strerror or str(exc))
            importer.stop()
            importer.join(STOP_JOIN)
            return ExitCode.USAGE
        try:
            code = self._serve(queue, watcher, importer)
        finally:
            self.notifier.stopping("stopping: finishing the current batch")
            log.info("stopping", files_waiting=importer.waiting)
            watcher.stop()
            importer.stop()
            importer.join(STOP_JOIN)
            if importer.is_alive():
                log.warning("importer_still_busy", waited_s=STOP_JOIN)
        log.info(
            "stop",
            exit_code=int(code),
            imports=importer.files_imported,
            inserted=importer.rows_inserted,
        )
        return code

    # -- the main loop ---------------------------------------------------------------------

    def _serve(self, queue: PathQueue, watcher: DirectoryWatcher, importer: ImporterThread) -> int:
        s = self.settings
        backlog = self._rescan(queue, watcher, "start-up")
        observer = "polling" if watcher.polling else "inotify"
        log.info("ready", observer=observer, queued=backlog)
        self.notifier.ready(f"watching {watcher.root} ({observer}); {backlog} files queued")

        ping = watchdog_interval(self.environ)
        tick = min(TICK, ping) if ping else TICK
        now = time.monotonic()
        next_rescan = now + s.rescan_interval if s.rescan_interval > 0 else None
        next_ping = now
        next_observer_try = now
        observer_retry = OBSERVER_RETRY
        last_status = ""
        while not self.stop_requested:
            now = time.monotonic()
            if ping is not None and now >= next_ping:
                self.notifier.watchdog()
                next_ping = now + ping
            if not importer.is_alive():
                log.error("importer_died")
                return ExitCode.FILE_FAILED
            if not watcher.is_alive() and now >= next_observer_try:
                try:
                    watcher.restart()
                except OSError as exc:
                    log.error(
                        "observer_restart_failed",
                        error=exc.strerror or str(exc),
                        retry_in=observer_retry,
                    )
                    next_observer_try = now + observer_retry
                    observer_retry = min(observer_retry * 2, OBSERVER_RETRY_MAX)
                else:
                    log.warning("observer_restarted")
                    observer_retry = OBSERVER_RETRY
                    queue.request_scan()  # events were lost while it was down
            if queue.take_scan_request():
                self._rescan(queue, watcher, "requested")
            if next_rescan is not None and now >= next_rescan:
                self._rescan(queue, watcher, "periodic")
                next_rescan = now + s.rescan_interval
            status = importer.describe()
            if status != last_status:
                self.notifier.status(status)
                last_status = status
            self._tick.wait(tick)
        return ExitCode.OK

    def _rescan(self, queue: PathQueue, watcher: DirectoryWatcher, reason: str) -> int:
        started = time.perf_counter()
        paths = watcher.scan()
        queued = sum(queue.put(p) for p in self._known.changed(paths, always=self._look_anyway))
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


def _version(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _stat_version(path: Path) -> tuple[int, ...] | None:
    """Identity, size, mtime and ctime (a chmod changes only the ctime); None if gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (*_version(st), st.st_ctime_ns)


def run(settings: Settings) -> int:
    """``csv-import-daemon run``: watch and import until SIGTERM/SIGINT."""
    return Daemon(settings).run()
