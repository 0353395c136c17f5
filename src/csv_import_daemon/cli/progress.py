"""Progress on a terminal: a long one-shot import's rows done, rate and time left (tqdm),
and ``verify``'s bytes read.

Shown only for a file big enough to wait for, and on a terminal (the import's: stdout and
stderr both; verify's: stderr); otherwise nothing at all. The importer reports byte
offsets after each commit; the rows behind them are counted from the file itself (one
extra sequential read, from the page cache the import fills anyway).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from csv_import_daemon.cli.terminal import visible
from csv_import_daemon.errors import NotRegularFileError
from csv_import_daemon.files.reader import open_regular

MIN_BYTES = 5_000_000  # smaller files finish before a bar would help
_BLOCK = 1 << 20


def _newlines(path: Path, start: int, end: int) -> int:
    count = 0
    with open_regular(path) as f:
        f.seek(start)
        left = end - start
        while left > 0:
            block = f.read(min(_BLOCK, left))
            if not block:
                break
            count += block.count(b"\n")
            left -= len(block)
    return count


class RowProgress:
    """The ``CommitObserver`` an import on a terminal hands in; a context manager."""

    def __init__(self, path: Path, bar: Any | None) -> None:
        self.path = path
        self.bar = bar
        self.offset = 0

    @classmethod
    def for_file(cls, path: Path, *, force: bool = False) -> RowProgress:
        """A bar for ``path`` if it is worth one and we are on a terminal, else a no-op."""
        try:
            size = path.stat().st_size
        except OSError:
            return cls(path, None)
        on_terminal = sys.stdout.isatty() and sys.stderr.isatty()
        if not force and (not on_terminal or size < MIN_BYTES):
            return cls(path, None)
        from tqdm import tqdm  # noqa: PLC0415 - only on a terminal

        try:
            rows = max(0, _newlines(path, 0, size) - 1)  # the header is not a row
        except (OSError, NotRegularFileError):
            return cls(path, None)
        bar = tqdm(
            total=rows,
            unit=" rows",
            unit_scale=True,
            desc=visible(path.name[:40]),
            file=sys.stderr,
            leave=True,
            # A terminal that reports no size (0x0) would get no bar at all.
            ncols=shutil.get_terminal_size().columns,
            nrows=shutil.get_terminal_size().lines,
            disable=False,
        )
        return cls(path, bar)

    def committed(self, offset: int, size: int) -> None:
        if self.bar is None or offset <= self.offset:
            return
        try:
            rows = _newlines(self.path, self.offset, offset)
        except (OSError, NotRegularFileError):
            return
        if self.offset == 0:
            rows -= 1  # the header line
        self.offset = offset
        self.bar.update(max(0, rows))

    def __enter__(self) -> RowProgress:
        return self

    def __exit__(
        self,
        _exc_type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        if self.bar is not None:
            self.bar.close()


class ReadProgress:
    """``verify``'s one-line bar on the terminal for files big enough to wait for (the
    audit's ``ReadObserver``): bytes read, no row count (verify reads each byte once)."""

    def __init__(self, path: Path) -> None:
        self.name = visible(path.name[:40])
        self.shown = False

    def read(self, offset: int, size: int) -> None:
        if size < MIN_BYTES:
            return
        filled = 30 * offset // max(size, 1)
        percent = offset * 100 // max(size, 1)
        sys.stderr.write(f"\rverify {self.name} [{'#' * filled}{'.' * (30 - filled)}] {percent}%")
        sys.stderr.flush()
        self.shown = True

    def done(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
