"""What the daemon has done, as Prometheus metrics, and whether it is healthy.

The importer thread and the main loop record into one ``Metrics`` object; the HTTP server
thread only reads it (``exposition`` and ``health``), so serving a scrape never touches the
database nor waits on an import. Label values come from fixed vocabularies (row results,
import statuses): never file paths or account names, which are private and unbounded.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

from csv_import_daemon.importing.result import ImportResult, ImportStatus

# Row results: the metric's label -> the field of ``Counts``.
ROW_RESULTS = {
    "inserted": "inserted",
    "duplicate": "duplicates",
    "rejected": "rejected",
    "conflict": "conflicts",
    "replaced": "replaced",
}
# Import durations: an unchanged file takes about a millisecond, a million rows minutes.
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0)
# Append-to-commit lag: the settle period and the queue add seconds, an outage minutes.
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)


class _ProcessCollector(ProcessCollector):
    """The process collector, also under systemd's ``ProcSubset=pid``: that hides
    /proc/stat, whose boot time it needs, and it would then report nothing at all."""

    def _boot_time(self) -> float:
        try:
            return float(super()._boot_time())  # type: ignore[no-untyped-call]
        except OSError:
            return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


class Metrics:
    """The daemon's metrics in a private registry (tests and embedders may hold several)."""

    def __init__(self) -> None:
        # The *_created series double the output and no dashboard uses them (process-wide).
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        r = self.registry
        _ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.rows = Counter(
            "csv_import_rows",
            "Rows committed, by result (a row counts once per read of its file)",
            ["result"],
            registry=r,
        )
        self.files = Counter(
            "csv_import_files", "Imports of one file, by their status", ["status"], registry=r
        )
        self.duration = Histogram(
            "csv_import_import_duration_seconds",
            "Time one import of one file took (reading, parsing, committing)",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.lag = Histogram(
            "csv_import_append_lag_seconds",
            "From the file's last modification before the read to the commit of its rows",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.backlog = Gauge(
            "csv_import_backlog_files", "Files queued or waiting on a timer", registry=r
        )
        self.last_import = Gauge(
            "csv_import_last_import_timestamp_seconds",
            "Unix time of the last import that committed rows (0: none since start)",
            registry=r,
        )
        self.database_up = Gauge(
            "csv_import_database_up",
            "1 while the importer's last contact with the database succeeded",
            registry=r,
        )
        self.observer_up = Gauge(
            "csv_import_observer_up", "1 while the folder observer thread runs", registry=r
        )
        for label in ROW_RESULTS:
            self.rows.labels(result=label)
        for status in ImportStatus:
            self.files.labels(status=str(status))
        self._lock = threading.Lock()
        self._database_ok = False
        self._observer_ok = False
        self._importer_ok = True
        self._database_problem: str | None = None

    # -- recorded by the importer thread and the main loop --------------------------------

    def record_import(self, result: ImportResult, *, modified_at: float | None = None) -> None:
        """One import result, once its rows are committed (``modified_at``: the file's
        mtime as seen before the read, for the append lag)."""
        self.files.labels(status=str(result.status)).inc()
        self.duration.observe(result.duration_ms / 1000)
        for label, attribute in ROW_RESULTS.items():
            count: int = getattr(result.counts, attribute)
            if count:
                self.rows.labels(result=label).inc(count)
        if result.rows_read:
            now = time.time()
            self.last_import.set(now)
            if modified_at is not None:
                self.lag.observe(max(0.0, now - modified_at))

    def set_state(
        self,
        *,
        database_up: bool,
        observer_up: bool,
        backlog: int,
        importer_up: bool = True,
        database_problem: str | None = None,
    ) -> None:
        """The main loop's view, each tick: the importer's database state (and what kind
        of problem, in words without paths), the observer, and whether the current import
        still shows signs of life."""
        with self._lock:
            self._database_ok, self._observer_ok = database_up, observer_up
            self._database_problem = database_problem
            self._importer_ok = importer_up
        self.database_up.set(1 if database_up else 0)
        self.observer_up.set(1 if observer_up else 0)
        self.backlog.set(backlog)

    # -- read by the HTTP server thread -----------------------------------------------------

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def health(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, JSON body): healthy while the database answers, the observer runs
        and the importer is not stuck in one import."""
        with self._lock:
            database_ok, observer_ok = self._database_ok, self._observer_ok
            importer_ok = self._importer_ok
            database_problem = self._database_problem
        problems = []
        if not importer_ok:
            problems.append("importer stuck in one import")
        if not database_ok:
            kind = f": {database_problem}" if database_problem else ""
            problems.append(f"database unavailable{kind}")
        if not observer_ok:
            problems.append("observer not running")
        body: dict[str, Any] = {
            "status": "ok" if not problems else "unavailable",
            "database": "up" if database_ok else "down",
            "observer": "up" if observer_ok else "down",
            "importer": "up" if importer_ok else "stuck",
        }
        if problems:
            body["reason"] = "; ".join(problems)
        return not problems, body
