"""Write sessions: the unit of work an import writes into, and when its writes count.

``ImportService.import_file`` is handed a session and never asks which kind it has:

- ``FileSession``: each file in transactions of its own (a bulk file in several, bounded by
  ``batch_size`` rows or ``commit_seconds``; on PostgreSQL one per batch). What the CLI and
  a large file use.
- ``SharedSession``: one SQLite write transaction shared by a batch of small files (see
  ``batch_import``). A file writes inside its own savepoint, so one that fails half-way
  takes back only its own rows; its checkpoint is saved there with its rows.

Either way the rescan filter (``KnownFiles``) learns a checkpoint only once it is
committed, round trips are refreshed in the transaction that changed their fills (once
per commit of a shared session), and a heartbeat that has fallen due is written inside
that same transaction: the importer never waits on a lock it holds itself.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, NestedTransaction, RootTransaction

from csv_import_daemon.config.point_values import PointValues
from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db.engine import WRITE_OPTION, writing
from csv_import_daemon.db.heartbeat import Heartbeat
from csv_import_daemon.importing.checkpoint import Checkpoint, CheckpointStore
from csv_import_daemon.trips.refresh import TripChanges, refresh_round_trips

GROUP_FILES = 200  # most files in one shared transaction


@dataclass(frozen=True, slots=True)
class SessionParts:
    """What every session of one service writes with."""

    engine: Engine
    settings: Settings
    store: CheckpointStore
    point_values: PointValues  # for the round trips kept current in each transaction
    heartbeat: Heartbeat | None = None  # the daemon's; None for the CLI


@dataclass
class Commits:
    """How many transactions the service's sessions have committed, and when the last one
    did (monotonic): read by the importer thread (plain attributes) to tell that the
    database works again, and that a long import is alive, without a callback."""

    count: int = 0
    at: float = 0.0


class WriteSession(ABC):
    """Where one file's import reads its checkpoint and writes its rows."""

    def __init__(self, parts: SessionParts, commits: Commits) -> None:
        self.parts = parts
        self.commits = commits

    @abstractmethod
    def reading(self) -> AbstractContextManager[Connection]:
        """A connection that sees what this session wrote, committed or not."""

    @abstractmethod
    def writing(self) -> AbstractContextManager[Connection]:
        """A short write of its own (a refused file's checkpoint), done when the block ends."""

    @property
    @abstractmethod
    def connection(self) -> Connection | None:
        """The open write transaction's connection, if one is open (a rename is moved there)."""

    @abstractmethod
    def begin_file(self) -> Connection:
        """Open the file's transaction (or savepoint) and return its connection."""

    @abstractmethod
    def file_due(self, rows: int, started: float) -> bool:
        """The file has written ``rows`` uncommitted rows since ``started``: commit now?"""

    @abstractmethod
    def commit_file(self, cp: Checkpoint, trips: TripChanges, rows: int) -> None:
        """Save ``cp`` with the file's rows and commit (a shared session: release its
        savepoint; the rows count once the session commits). ``rows``: written since the
        file's last commit."""

    @abstractmethod
    def end_file(self) -> None:
        """Take back what the file wrote since its last commit (nothing when all is in)."""

    @abstractmethod
    def unchanged(self, cp: Checkpoint) -> None:
        """``cp`` was read back for a file found unchanged: the filter may learn it."""

    def _commit(self, conn: Connection, tx: RootTransaction) -> None:
        """Commit ``tx``, with a heartbeat if one is due (in it: no second writer)."""
        heartbeat = self.parts.heartbeat
        beat = heartbeat.write_in(conn) if heartbeat is not None else None
        tx.commit()
        self.commits.count += 1
        self.commits.at = time.monotonic()
        if heartbeat is not None:
            heartbeat.written(beat)


class FileSession(WriteSession):
    """Each file in transactions of its own."""

    def __init__(self, parts: SessionParts, commits: Commits) -> None:
        super().__init__(parts, commits)
        self.sqlite = parts.engine.dialect.name == "sqlite"
        self._conn: Connection | None = None
        self._tx: RootTransaction | None = None

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with self.parts.engine.connect() as conn:
            yield conn

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        with writing(self.parts.engine) as conn:
            yield conn

    @property
    def connection(self) -> Connection | None:
        return None  # a plain read finds a rename; a write transaction opens to move it

    def begin_file(self) -> Connection:
        conn = self.parts.engine.connect()
        try:
            conn.execution_options(**{WRITE_OPTION: True})
            self._tx = conn.begin()
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def file_due(self, rows: int, started: float) -> bool:
        if not self.sqlite:
            # Each batch is sorted by execution ID, but two batches in one transaction are
            # not: concurrent writers could then lock shared IDs in opposite orders and
            # deadlock. PostgreSQL commits cheaply, so one batch per transaction.
            return True
        settings = self.parts.settings
        return rows >= settings.batch_size or time.monotonic() - started >= settings.commit_seconds

    def commit_file(self, cp: Checkpoint, trips: TripChanges, rows: int) -> None:
        conn, tx = self._conn, self._tx
        assert conn is not None
        assert tx is not None
        # In this transaction, so round trips can never disagree with trades.
        refresh_round_trips(conn, trips.drain(), values=self.parts.point_values)
        self.parts.store.save(conn, cp)
        self._commit(conn, tx)
        self.end_file()
        self.parts.store.known.record(cp)

    def end_file(self) -> None:
        conn, tx = self._conn, self._tx
        self._conn = self._tx = None
        if conn is None:
            return
        try:
            if tx is not None and tx.is_active:
                tx.rollback()
        finally:
            conn.close()

    def unchanged(self, cp: Checkpoint) -> None:
        self.parts.store.known.record(cp)  # read back from the database: committed


@dataclass
class _Shared:
    """The state of one shared transaction."""

    conn: Connection
    tx: RootTransaction
    started: float
    # Checkpoints saved (or read back) in it: the filter learns them at its commit.
    saved: list[Checkpoint] = field(default_factory=list)
    files: int = 0
    rows: int = 0
    # The round trips its files changed: refreshed once, just before each commit, in the
    # same transaction (per file it cost a dozen statements per account and instrument).
    trips: TripChanges = field(default_factory=TripChanges)


class SharedSession(WriteSession):
    """One SQLite write transaction for a batch of small files, each in a savepoint."""

    def __init__(self, parts: SessionParts, commits: Commits) -> None:
        super().__init__(parts, commits)
        conn = parts.engine.connect()
        try:
            conn.execution_options(**{WRITE_OPTION: True})
            tx = conn.begin()
        except BaseException:
            conn.close()
            raise
        self._open = _Shared(conn, tx, time.monotonic())
        self._nested: NestedTransaction | None = None
        # How many of its finished files a mid-session commit already made durable: their
        # results are handed out even if a later file fails and rolls the rest back.
        self.committed_files = 0

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        yield self._open.conn  # sees what the session wrote and has not committed

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        with self._open.conn.begin_nested():
            yield self._open.conn

    @property
    def connection(self) -> Connection | None:
        return self._open.conn

    def begin_file(self) -> Connection:
        self._nested = self._open.conn.begin_nested()
        return self._open.conn

    def due(self, rows: int = 0) -> bool:
        """Time to commit: the session (plus ``rows`` not counted in it yet) is full or old."""
        s, settings = self._open, self.parts.settings
        return (
            s.files >= GROUP_FILES
            or s.rows + rows >= settings.batch_size
            or time.monotonic() - s.started >= settings.commit_seconds
        )

    def file_due(self, rows: int, started: float) -> bool:
        return self.due(rows)  # a small file; one that grew still commits in time

    def commit_file(self, cp: Checkpoint, trips: TripChanges, rows: int) -> None:
        s = self._open
        s.trips.absorb(trips.drain())
        self.parts.store.save(s.conn, cp)
        assert self._nested is not None
        self._nested.commit()
        self._nested = None
        s.saved.append(cp)
        if self.due(rows):
            self._commit_and_go_on()

    def end_file(self) -> None:
        nested, self._nested = self._nested, None
        if nested is not None and nested.is_active:
            nested.rollback()  # only this file's rows; the session's transaction stays

    def unchanged(self, cp: Checkpoint) -> None:
        self._open.saved.append(cp)  # read in this transaction: learnt at its commit

    def file_done(self, lines: int) -> None:
        """A file's import has returned (its result waits for the commit)."""
        self._open.files += 1
        self._open.rows += lines

    def _commit_and_go_on(self) -> None:
        """Commit now and open the next transaction on the same connection: a file that
        was small at its stat grew large, and a transaction stays bounded all the same.
        (Results of files before it are still handed out only after the session's end.)"""
        s = self._open
        refresh_round_trips(s.conn, s.trips.drain(), values=self.parts.point_values)
        self._commit(s.conn, s.tx)
        self.committed_files = s.files
        self._learn()
        s.tx = s.conn.begin()
        s.started, s.rows = time.monotonic(), 0

    def commit(self) -> None:
        """Commit the session and close it; the filter learns its checkpoints."""
        s = self._open
        try:
            refresh_round_trips(s.conn, s.trips.drain(), values=self.parts.point_values)
            self._commit(s.conn, s.tx)
        finally:
            s.conn.close()
        self._learn()

    def rollback(self) -> None:
        """Take back everything not committed yet and close the session."""
        s = self._open
        try:
            if s.tx.is_active:
                s.tx.rollback()
        finally:
            s.conn.close()

    def _learn(self) -> None:
        known = self.parts.store.known
        for cp in self._open.saved:  # only now: the filter never runs ahead of the database
            known.record(cp)
        self._open.saved.clear()
