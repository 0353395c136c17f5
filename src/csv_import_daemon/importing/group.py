"""Group commits: many small files imported in one SQLite write transaction.

A cold start on years of daily files was a commit per file, and the commit (with its
``BEGIN IMMEDIATE``, connection checkout and WAL write) cost more than the file's rows.
Files of at most ``GROUP_FILE_BYTES`` now share one transaction of up to ``GROUP_FILES``
files (or ``batch_size`` rows, or ``commit_seconds``). Each file still saves its checkpoint
in that transaction with its rows, inside its own savepoint: a file that fails half-way
(unreadable, vanished) takes back only its own rows. A result is handed out only after the
group's commit, so nothing is counted before it is committed; an exception rolls the whole
group back and is raised, and the caller imports the files not yet handed out one by one.

SQLite only: on PostgreSQL each batch is its own transaction (see ``Transaction.due``),
so there is nothing to share.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, RootTransaction

from csv_import_daemon.config.point_values import PointValues
from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db.engine import WRITE_OPTION
from csv_import_daemon.importing.checkpoint import Checkpoint
from csv_import_daemon.importing.known_files import KnownFiles
from csv_import_daemon.importing.result import ImportResult
from csv_import_daemon.trips.refresh import TripChanges, refresh_round_trips

if TYPE_CHECKING:
    from csv_import_daemon.importing.service import ImportService

GROUP_FILE_BYTES = 1 << 20  # larger files are read alone, in their own transactions
GROUP_FILES = 200


@dataclass
class Group:
    """One open write transaction shared by several files."""

    conn: Connection
    tx: RootTransaction
    started: float
    saved: list[Checkpoint] = field(default_factory=list)
    files: int = 0
    rows: int = 0
    # How many of the group's finished files a mid-group commit already made durable:
    # their results are handed out even if a later file fails and rolls the rest back.
    committed_files: int = 0
    # The round trips its files changed: refreshed once, just before each commit, in the
    # same transaction (per file it cost a dozen statements per account and instrument).
    trips: TripChanges = field(default_factory=TripChanges)
    values: PointValues = field(default_factory=PointValues)

    @classmethod
    def begin(cls, engine: Engine, values: PointValues) -> Group:
        conn = engine.connect()
        try:
            conn.execution_options(**{WRITE_OPTION: True})
            tx = conn.begin()
        except BaseException:
            conn.close()
            raise
        return cls(conn, tx, time.monotonic(), values=values)

    def _refresh_trips(self) -> None:
        refresh_round_trips(self.conn, self.trips.drain(), values=self.values)

    def commit(self, known: KnownFiles) -> None:
        try:
            self._refresh_trips()
            self.tx.commit()
        finally:
            self.conn.close()
        for cp in self.saved:  # only now: the filter never runs ahead of the database
            known.record(cp)

    def due(self, settings: Settings, rows: int) -> bool:
        """Time to commit: the group (plus ``rows`` not counted in it yet) is full or old."""
        return (
            self.files >= GROUP_FILES
            or self.rows + rows >= settings.batch_size
            or time.monotonic() - self.started >= settings.commit_seconds
        )

    def commit_and_go_on(self, known: KnownFiles) -> None:
        """Commit now and open the next transaction on the same connection: a file that
        was small at its stat grew large, and a transaction stays bounded all the same.
        (Results of files before it are still handed out only after the group's end.)"""
        self._refresh_trips()
        self.tx.commit()
        self.committed_files = self.files
        for cp in self.saved:
            known.record(cp)
        self.saved.clear()
        self.tx = self.conn.begin()
        self.started, self.rows = time.monotonic(), 0

    def rollback(self) -> None:
        try:
            if self.tx.is_active:
                self.tx.rollback()
        finally:
            self.conn.close()


def groups_apply(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@dataclass(frozen=True, slots=True)
class Hooks:
    """What the caller hears while a group runs: a stop request, commits, the file begun."""

    should_stop: Callable[[], bool] | None = None
    progress: Callable[[int, int], None] | None = None
    on_file: Callable[[Path], None] | None = None


def import_many(
    service: ImportService, paths: Sequence[Path], hooks: Hooks
) -> Iterator[tuple[Path, ImportResult]]:
    """Import ``paths`` in order; yield each one's result once it is committed.

    Stops between files when ``should_stop()`` says so (the rest is not yielded). Never
    suspended while a group is open. When a file fails, the files a mid-group commit made
    durable are yielded before the error is raised; the rest are rolled back.
    """
    should_stop = hooks.should_stop
    settings = service.settings
    done: list[tuple[Path, ImportResult]] = []

    def flush() -> Iterator[tuple[Path, ImportResult]]:
        group, service.group = service.group, None
        if group is not None:
            group.commit(service.checkpoints.known)
        results = list(done)
        done.clear()
        yield from results

    for path in paths:
        if should_stop is not None and should_stop():
            break
        if hooks.on_file is not None:
            hooks.on_file(path)
        if not _small(path):
            yield from flush()
            yield path, service.import_file(path, should_stop=should_stop, progress=hooks.progress)
            continue
        if service.group is None:
            service.group = Group.begin(service.engine, service.writers.point_values)
        group = service.group
        try:
            # Stopping is honoured inside a file too (one that grew after its stat): what
            # it read is kept with its checkpoint, and the group commits below.
            result = service.import_file(path, should_stop=should_stop, progress=hooks.progress)
        except BaseException:
            service.group = None
            durable = done[: group.committed_files]
            group.rollback()
            yield from durable
            raise
        done.append((path, result))
        group.files += 1
        group.rows += result.lines
        if group.due(settings, 0):
            yield from flush()
    yield from flush()


def _small(path: Path) -> bool:
    try:
        return os.stat(path).st_size <= GROUP_FILE_BYTES
    except OSError:
        return True  # gone: import_file says so, in the group as anywhere else
