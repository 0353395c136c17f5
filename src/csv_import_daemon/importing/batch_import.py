"""A batch of files imported in order, small ones sharing one SQLite write transaction.

A cold start on years of daily files was a commit per file, and the commit (with its
``BEGIN IMMEDIATE``, connection checkout and WAL write) cost more than the file's rows.
Files of at most ``GROUP_FILE_BYTES`` now share a ``SharedSession`` of up to
``GROUP_FILES`` files (or ``batch_size`` rows, or ``commit_seconds``); a larger file is
read alone, in a ``FileSession``. A result is handed out only after the commit that made
it durable, so nothing is counted before it is committed; an exception rolls the open
session back and is raised, and the caller imports the files not yet handed out one by
one.

Only where sharing applies (SQLite): on PostgreSQL each batch is its own transaction, so
there is nothing to share and the caller imports file by file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from csv_import_daemon.importing.result import ImportResult
from csv_import_daemon.importing.write_session import SharedSession, WriteSession

GROUP_FILE_BYTES = 1 << 20  # larger files are read alone, in their own transactions


class FileImporter(Protocol):
    """What a batch needs of the import service."""

    def shared_session(self) -> SharedSession: ...

    def import_file(
        self,
        path: Path,
        *,
        session: WriteSession | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> ImportResult: ...


class BatchImport:
    """Iterate to import ``paths`` in order; each ``(path, result)`` once it is committed.

    Stops between files when ``should_stop()`` says so (the rest is not yielded). Never
    suspended while a session is open. When a file fails, the files a mid-session commit
    made durable are yielded before the error is raised; the rest are rolled back.
    ``current`` names the file being imported (the daemon's ``STATUS=``).
    """

    def __init__(
        self,
        service: FileImporter,
        paths: Sequence[Path],
        *,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.service = service
        self.paths = list(paths)
        self.should_stop = should_stop
        self.current: Path | None = None  # read by another thread: one plain attribute

    def __iter__(self) -> Iterator[tuple[Path, ImportResult]]:
        should_stop = self.should_stop
        session: SharedSession | None = None
        done: list[tuple[Path, ImportResult]] = []

        def flush() -> Iterator[tuple[Path, ImportResult]]:
            nonlocal session
            closing = session
            session = None
            if closing is not None:
                closing.commit()
            results = list(done)
            done.clear()
            yield from results

        try:
            for path in self.paths:
                if should_stop is not None and should_stop():
                    break
                self.current = path
                if not _small(path):
                    yield from flush()
                    yield path, self.service.import_file(path, should_stop=should_stop)
                    continue
                if session is None:
                    session = self.service.shared_session()
                try:
                    # Stopping is honoured inside a file too (one that grew after its
                    # stat): what it read is kept with its checkpoint, committed below.
                    result = self.service.import_file(
                        path, session=session, should_stop=should_stop
                    )
                except BaseException:
                    failed = session
                    session = None
                    durable = done[: failed.committed_files]
                    failed.rollback()
                    yield from durable
                    raise
                done.append((path, result))
                session.file_done(result.lines)
                if session.due():
                    yield from flush()
            yield from flush()
        finally:
            if session is not None:  # abandoned mid-way (the caller stopped iterating)
                session.rollback()
            self.current = None


def _small(path: Path) -> bool:
    try:
        return os.stat(path).st_size <= GROUP_FILE_BYTES
    except OSError:
        return True  # gone: import_file says so, in the session as anywhere else
