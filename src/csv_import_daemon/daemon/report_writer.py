"""The daemon's journal page (``report_path``): rewritten after commits, debounced, on a
thread of its own.

The main loop tells the writer when the importer's counts moved (``note``); the writer
waits until ``DEBOUNCE`` seconds have passed since its last page, reads the journal on its
own read-only engine (a snapshot: it never holds the importer's lock or its connection)
and replaces the file atomically. A busy import therefore costs one page every few
seconds at most, and a page that fails (a full disk) is logged and tried again on the
next change, never stopping imports.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Protocol

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.errors import ConfigError
from csv_import_daemon.logs import get_logger

log = get_logger(__name__)

DEBOUNCE = 3.0  # seconds between two pages at most once per this
RELOAD = 10  # the page's own meta refresh, seconds: an open tab follows the file
STOP_JOIN = 10.0


def check_report_path(settings: Settings) -> Path | None:
    """``report_path`` made absolute; its folder must exist (a typo is exit 2 at start)."""
    path = settings.report_path
    if path is None:
        return None
    if not path.parent.is_dir():
        raise ConfigError(f"report_path: folder {path.parent} does not exist")
    if path.is_dir():
        raise ConfigError(f"report_path: {path} is a folder; name the HTML file to write")
    return path


class Page(Protocol):
    """The page to keep fresh (``reports.journal_file.PageFile``, handed in by the CLI: the
    daemon does not import the reports)."""

    def write(self) -> int: ...  # one page, its size in bytes

    def close(self) -> None: ...


class ReportWriter(threading.Thread):
    """Writes the page once at start, then after each noted change, debounced."""

    def __init__(self, page: Page, *, debounce: float = DEBOUNCE) -> None:
        super().__init__(name="report", daemon=True)
        self.page = page
        self.debounce = debounce
        self.pages = 0  # written since start
        self._mark: object = None
        self._changed = threading.Event()
        self._changed.set()  # the first page: right away
        self._stopping = threading.Event()

    def note(self, mark: object) -> None:
        """Called by the main loop with the importer's counts; a new value means a commit."""
        if mark != self._mark:
            self._mark = mark
            self._changed.set()

    def stop(self) -> None:
        self._stopping.set()
        self._changed.set()

    def run(self) -> None:
        last = -self.debounce
        try:
            while not self._stopping.is_set():
                self._changed.wait()
                wait = last + self.debounce - time.monotonic()
                if wait > 0 and self._stopping.wait(wait):
                    break
                if self._stopping.is_set():
                    break
                self._changed.clear()
                last = time.monotonic()
                self._write()
        finally:
            self.page.close()

    def _write(self) -> None:
        started = time.perf_counter()
        try:
            size = self.page.write()
        except Exception as exc:  # the page must never stop the daemon; next change retries
            log.warning("report_failed", error=str(exc) or type(exc).__name__)
            return
        self.pages += 1
        log.debug(
            "report_written",
            bytes=size,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
