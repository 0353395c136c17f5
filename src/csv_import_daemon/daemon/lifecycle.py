"""The watching daemon: lifecycle in the main thread, imports in one writer thread.

Start: settings -> engine -> migrations -> importer thread -> observer -> start-up scan ->
``READY=1``. The main loop wakes every half second, or at once on a signal (a ``select``
on the ``signal.set_wakeup_fd`` socket), to check the stop flag and run one
``MainLoop.step`` (watchdog ping, importer and observer health, rescans, ``STATUS=``).
Signal handlers only set a flag; a second signal exits at once. Shutdown runs in reverse:
``STOPPING=1``, observer stopped and joined, importer told to stop after its current
batch, joined, exit 0.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from csv_import_daemon import __version__
from csv_import_daemon.config.database_url import masked_url
from csv_import_daemon.config.settings import Settings, settings_in_force
from csv_import_daemon.daemon.archiver import Archiver, month_folders
from csv_import_daemon.daemon.importer_thread import ImporterThread
from csv_import_daemon.daemon.main_loop import LoopParts, MainLoop, PathFilter, rescan
from csv_import_daemon.daemon.metrics import Metrics
from csv_import_daemon.daemon.metrics_http import MetricsServer
from csv_import_daemon.daemon.notify import Notifier, watchdog_interval
from csv_import_daemon.daemon.report_writer import Page, ReportWriter, check_report_path
from csv_import_daemon.daemon.watcher import DirectoryWatcher, PathQueue
from csv_import_daemon.db import recorded
from csv_import_daemon.db.engine import describe_db_error, make_engine
from csv_import_daemon.db.heartbeat import Heartbeat, Identity
from csv_import_daemon.db.schema import prepare_database
from csv_import_daemon.db.writable import (
    JournalReadOnlyError,
    describe_refused,
    is_write_refused,
    probe_write,
    unwritable,
)
from csv_import_daemon.errors import (
    ConfigError,
    CsvImportError,
    DatabaseUnavailableError,
    ExitCode,
    WatchFailedError,
    exit_code_for,
)
from csv_import_daemon.importing.known_files import KnownFiles
from csv_import_daemon.importing.service import ImportService
from csv_import_daemon.logs import get_logger

log = get_logger(__name__)

STOP_JOIN = 30.0  # how long shutdown waits for the importer's current batch


class Daemon:
    """Owns the lifecycle; ``run()`` returns the process exit code."""

    def __init__(
        self,
        settings: Settings,
        environ: Mapping[str, str] | None = None,
        *,
        page: Page | None = None,
    ) -> None:
        self.settings = settings
        self.page = page  # with report_path: the journal page to keep fresh
        self.environ = os.environ if environ is None else environ
        self.notifier = Notifier.from_environ(self.environ)
        self._signals = 0  # written only by the signal handler
        self._wakeup: _Wakeup | None = None  # the main loop's clock, woken by signals
        self.metrics: Metrics | None = None  # with metrics_address: /metrics and /healthz
        self._only: PathFilter | None = None  # the rescan filter, once the journal is open
        self._report: ReportWriter | None = None  # with report_path: the page's writer

    # -- signals ---------------------------------------------------------------------------

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        # Only a flag: setting a threading.Event here could deadlock with a lock the main
        # thread holds, and logging is not safe in a handler. The main loop reads the flag
        # as soon as the wake-up socket ends its wait.
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
        self._wakeup = _Wakeup()
        try:
            return self._run()
        finally:
            self._wakeup.close()
            self._wakeup = None

    def _run(self) -> int:
        root, archive = self._check_folders()
        report_path = check_report_path(self.settings)
        s = self.settings
        engine = make_engine(s)
        log.info(
            "start",
            version=__version__,
            pid=os.getpid(),
            watch_dir=str(root),
            archive_dir=str(archive) if archive else None,
            database=masked_url(engine.url),
            **settings_in_force(s),
            polling=s.polling,
            recursive=s.recursive,
            settle=s.settle,
            rescan_interval=s.rescan_interval,
            instance=s.instance_name,
        )
        try:
            server = self._metrics_server()
        except ConfigError:
            engine.dispose()
            raise
        if report_path is not None and self.page is not None:
            self._report = ReportWriter(self.page)
        try:
            return self._run_with(engine, root, archive)
        finally:
            if server is not None:
                server.close()
            engine.dispose()
            self.notifier.close()

    def _metrics_server(self) -> MetricsServer | None:
        """Listen on ``metrics_address`` (before migrating: a taken port is exit 2)."""
        if self.settings.metrics_address is None:
            return None
        self.metrics = Metrics()
        server = MetricsServer(self.metrics, self.settings.metrics_address)
        server.start()
        return server

    def _prepare(self, engine: Engine) -> None:
        """Migrate, check that the journal can be written (else DatabaseUnavailableError),
        and settle the reading settings with the journal's recorded ones (else ConfigError)."""
        self.notifier.status("connecting to the database and migrating")
        try:
            prepare_database(engine, self.settings)
            probe_write(engine)  # a journal it may only read would fail every import
            # The journal's recorded reading settings fill in what was not given.
            self.settings = recorded.settle(engine, self.settings, record=True)
        except DatabaseUnavailableError as exc:
            where = unwritable(engine)  # a folder SQLite cannot even open the journal in
            hint = f" ({where})" if where and not isinstance(exc, JournalReadOnlyError) else ""
            raise DatabaseUnavailableError(f"{exc}{hint}") from exc
        except DBAPIError as exc:  # OperationalError included
            error = (
                describe_refused(engine, exc)
                if is_write_refused(engine, exc)
                else describe_db_error(engine, exc)
            )
            raise DatabaseUnavailableError(error) from exc
        log.info("reading_settings", **settings_in_force(self.settings))

    def _run_with(self, engine: Engine, root: Path, archive: Path | None) -> int:
        self._prepare(engine)
        s = self.settings
        if self.stop_requested:
            log.info("stop", exit_code=0, reason="signal during start-up")
            return ExitCode.OK

        heartbeat = Heartbeat(
            engine,
            Identity(
                instance=s.instance_name,
                config_file=str(s.config_file) if s.config_file else None,
                watch_dir=str(root),
            ),
            every=s.heartbeat_interval,
        )
        service = ImportService(engine, s, heartbeat=heartbeat)
        service.load_known()
        queue = PathQueue()
        watcher = DirectoryWatcher(
            root, queue, recursive=s.recursive, polling=s.polling, archive_dir=archive
        )
        archiver = None
        if archive is not None:
            for folder in month_folders(archive):
                watcher.watch(folder)
            archiver = Archiver(settings=s, service=service, watches=watcher)
        self._only = _rescan_filter(service.known, watcher, archiving=archiver is not None)
        importer = ImporterThread(
            service=service,
            queue=queue,
            watcher=watcher,
            settings=s,
            archiver=archiver,
            metrics=self.metrics,
        )
        importer.start()
        if self._report is not None:  # after migrating: the page reads the newest schema
            self._report.start()
        try:
            watcher.start()
        except OSError as exc:
            importer.stop()
            importer.join(STOP_JOIN)
            raise WatchFailedError(str(root), exc.strerror or str(exc)) from exc
        ended: CsvImportError | None = None
        try:
            self._serve(queue, watcher, importer)
        except CsvImportError as exc:  # raised after the stop events below, which it ends
            ended = exc
        finally:
            self.notifier.stopping("stopping: finishing the current batch")
            log.info("stopping", files_waiting=importer.waiting)
            watcher.stop()
            importer.stop()
            importer.join(STOP_JOIN)
            if importer.is_alive():
                log.warning("importer_still_busy", waited_s=STOP_JOIN)
            if self._report is not None and self._report.is_alive():
                self._report.stop()
                self._report.join(STOP_JOIN)
        log.info(
            "stop",
            exit_code=int(ExitCode.OK if ended is None else exit_code_for(ended)),
            imports=importer.files_imported,
            inserted=importer.committed.inserted,
            duplicates=importer.committed.duplicates,
            rejected=importer.committed.rejected,
            conflicts=importer.committed.conflicts,
        )
        if ended is not None:
            raise ended
        return ExitCode.OK

    # -- the main loop ---------------------------------------------------------------------

    def _serve(self, queue: PathQueue, watcher: DirectoryWatcher, importer: ImporterThread) -> None:
        backlog = rescan(queue, watcher, "start-up", self._only)
        observer = "polling" if watcher.polling else "inotify"
        log.info("ready", observer=observer, queued=backlog)
        self.notifier.ready(f"watching {watcher.root} ({observer}); {backlog} files queued")
        parts = LoopParts(
            notifier=self.notifier,
            queue=queue,
            watcher=watcher,
            importer=importer,
            metrics=self.metrics,
            only=self._only,
            report=self._report,
        )
        loop = MainLoop(
            self.settings, parts, ping=watchdog_interval(self.environ), now=time.monotonic()
        )
        assert self._wakeup is not None  # run() made it
        while not self.stop_requested:
            loop.step(time.monotonic())
            self._wakeup.wait(loop.tick)


class _Wakeup:
    """Waits up to a tick, and returns at once when a signal arrives: the interpreter's C
    handler writes the signal number to this socket (``signal.set_wakeup_fd``), so SIGTERM
    stops a large import after the current batch rather than up to a tick later."""

    def __init__(self) -> None:
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)
        self._previous = signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)

    def wait(self, timeout: float) -> None:
        readable, _, _ = select.select([self._read], [], [], timeout)
        if readable:
            with contextlib.suppress(BlockingIOError):
                self._read.recv(4096)

    def close(self) -> None:
        signal.set_wakeup_fd(self._previous)
        self._read.close()
        self._write.close()


def _rescan_filter(known: KnownFiles, watcher: DirectoryWatcher, *, archiving: bool) -> PathFilter:
    """Rescans queue only files changed since their commit; with archiving, files still in
    the watched folder always come back, for the archiver to consider."""

    def look_anyway(path: Path) -> bool:
        return not watcher.is_archived(path)

    always = look_anyway if archiving else None
    return lambda paths: known.changed(paths, always=always)


def run(settings: Settings, *, page: Page | None = None) -> int:
    """``csv-import-daemon run``: watch and import until SIGTERM/SIGINT; ``page`` is the
    journal page to keep fresh when ``report_path`` is set."""
    return Daemon(settings, page=page).run()
