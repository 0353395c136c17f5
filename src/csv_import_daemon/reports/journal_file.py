"""The journal page made from a database and written to disk, for the ``report`` command
and (through ``PageFile``, handed to it by the CLI) the daemon's rewriter alike.

The page is read on a read-only connection (one snapshot beside a running daemon) and
written next to its final name, then renamed over it: a browser reloading it sees the old
page or the new one, never half of one. The file is the user's alone (mode 0600): it
holds their trading record.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from csv_import_daemon.config.point_values import PointValues
from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db.readonly import reading, readonly_engine
from csv_import_daemon.reports.journal_data import PageFilter, load_journal
from csv_import_daemon.reports.page import PageOptions, render_page


def make_page(
    engine: Engine,
    settings: Settings,
    flt: PageFilter | None = None,
    *,
    refresh_seconds: int | None = None,
) -> str:
    """The page's HTML for the journal behind ``engine`` (a read-only one is best)."""
    with reading(engine) as conn:
        values = PointValues(dict(settings.point_values))
        data = load_journal(
            conn, flt or PageFilter(), settings.rollover, values=values, zone=settings.tz
        )
    options = PageOptions(
        rollover=settings.rollover,
        zone=settings.tz,
        flt=flt or PageFilter(),
        refresh_seconds=refresh_seconds,
        now=datetime.now(UTC),
    )
    return render_page(data, options)


def write_page(path: Path, html: str) -> None:
    """Write ``html`` to ``path`` atomically (a temporary file in its folder, renamed)."""
    folder = path.parent
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(html)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


class PageFile:
    """The page at ``path``, made again on each ``write`` (the daemon's: it reloads itself
    every ``refresh_seconds``); its read-only engine is made on first use, on the caller's
    thread, and disposed by ``close``."""

    def __init__(self, settings: Settings, path: Path, *, refresh_seconds: int) -> None:
        self.settings = settings
        self.path = path
        self.refresh_seconds = refresh_seconds
        self._engine: Engine | None = None

    def write(self) -> int:
        """One page; its size in bytes."""
        if self._engine is None:
            self._engine = readonly_engine(self.settings)
        html = make_page(self._engine, self.settings, refresh_seconds=self.refresh_seconds)
        write_page(self.path, html)
        return len(html.encode())

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
