"""The import service: plan a file's read from its checkpoint, then read and commit it.

``import_file`` is handed the ``WriteSession`` to write into (by default a transaction of
the file's own). It opens the file, loads its checkpoint once through that session (the
cursor every later step is handed), and either finds it unchanged (a stat) or builds a
``ReadPlan`` (header, layout, date order, where to resume) and reads the new lines through
a ``Transaction``, which commits rows and checkpoint together.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db import legacy_ids
from csv_import_daemon.db.heartbeat import Heartbeat
from csv_import_daemon.db.tables import CheckpointStatus
from csv_import_daemon.errors import FileReadError, NotRegularFileError, UnknownFormatError
from csv_import_daemon.files import reader
from csv_import_daemon.files.names import path_key
from csv_import_daemon.files.quiet_period import seconds_until_settled
from csv_import_daemon.files.reader import FileStat, Header
from csv_import_daemon.importing.batch_import import BatchImport
from csv_import_daemon.importing.checkpoint import Checkpoint, CheckpointStore
from csv_import_daemon.importing.conventions import Evidence, layout_options
from csv_import_daemon.importing.file_transaction import Transaction, Writers
from csv_import_daemon.importing.identity import resume_point
from csv_import_daemon.importing.plan import ReadPlan
from csv_import_daemon.importing.result import CommitObserver, ImportResult, ImportStatus
from csv_import_daemon.importing.rewrites import held_back
from csv_import_daemon.importing.stand_in_replay import KeptCounts, replay_stand_ins
from csv_import_daemon.importing.write_session import (
    Commits,
    FileSession,
    SessionParts,
    SharedSession,
    WriteSession,
)
from csv_import_daemon.logs import get_logger
from csv_import_daemon.parsing.batches import batches
from csv_import_daemon.parsing.row_parser import RowParser, sniff_layout, split_lines

log = get_logger(__name__)

# Rows parsed and written per statement batch; a transaction (settings.batch_size rows or
# settings.commit_seconds) spans several, so memory stays flat while commits stay rare.
# 10,000 rather than 20,000: about 12 MB less peak RSS, no measurable cost.
WRITE_ROWS = 10_000


@dataclass(frozen=True, slots=True)
class _Request:
    """How ``import_file`` was asked to read."""

    reread: bool
    replace: bool
    repair: bool  # --replace as asked (not a pending one): reads in and pins the settings
    final_line_ok: bool | None
    observer: CommitObserver | None
    should_stop: Callable[[], bool] | None
    session: WriteSession


@dataclass(frozen=True, slots=True)
class _OpenFile:
    """The file as opened: its handle, stat and the checkpoint loaded for it."""

    path: Path
    key: str
    f: BinaryIO
    stat: FileStat
    prior: Checkpoint | None
    final_line_ok: bool


class ImportService:
    """Imports files for one daemon instance. One instance per process is the only writer.

    ``heartbeat``: the daemon's, written inside the import's own commits when due.
    """

    def __init__(
        self, engine: Engine, settings: Settings, *, heartbeat: Heartbeat | None = None
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.writers = Writers.for_engine(engine, settings)
        self.checkpoints = CheckpointStore(engine, settings.instance_name)
        # Date order and decimal mark evidence, remembering what sibling files show.
        self.evidence = Evidence(settings)
        self.known = self.checkpoints.known
        # May small files share one write transaction? SQLite only: PostgreSQL commits
        # each batch alone (see FileSession.file_due).
        self.shares_transactions = engine.dialect.name == "sqlite"
        self.commits = Commits()  # every session's commits, counted
        self.heartbeat = heartbeat
        self._legacy_left: bool | None = None  # any stand-in of 0.2.0 left? (db.legacy_ids)
        self._counts = KeptCounts()  # stand-in counts where this service stopped reading
        self._parts = SessionParts(
            engine, settings, self.checkpoints, self.writers.point_values, heartbeat
        )

    def load_known(self) -> int:
        """Load the rescan filter: one query for every checkpoint of this instance. If the
        database fails here, the filter starts empty and fills as files are looked at."""
        try:
            return self.checkpoints.load_known(self.writers.digest)
        except (OperationalError, DBAPIError) as exc:
            log.warning("known_files_not_loaded", error=str(getattr(exc, "orig", exc)))
            return 0

    def file_session(self) -> FileSession:
        """A session in which each file commits in transactions of its own."""
        return FileSession(self._parts, self.commits)

    def shared_session(self) -> SharedSession:
        """A SQLite write transaction, begun now, for several small files."""
        return SharedSession(self._parts, self.commits)

    def import_many(
        self, paths: Sequence[Path], *, should_stop: Callable[[], bool] | None = None
    ) -> BatchImport:
        """Import several paths, small files several to a transaction (``batch_import``)."""
        return BatchImport(self, paths, should_stop=should_stop)

    def move_checkpoint(self, old: Path, new: Path, archived: bool = False) -> None:
        """Carry a file's checkpoint to its new path (after a rename or an archive move)."""
        self.checkpoints.move(old, new, archived=archived)

    def import_file(
        self,
        path: Path,
        *,
        reread: bool = False,
        replace: bool = False,
        final_line_ok: bool | None = None,
        observer: CommitObserver | None = None,
        should_stop: Callable[[], bool] | None = None,
        session: WriteSession | None = None,
    ) -> ImportResult:
        """Import what is new in ``path``. Database errors propagate; file problems do not.

        ``session``: what the import writes into (None: transactions of the file's own).
        ``final_line_ok``: may a last line without newline be read as final? None means
        "if the file has been unchanged for the settle period".
        ``observer.committed(offset, size)`` is told after each commit (a progress bar).
        ``should_stop()`` is asked after each batch; when it says yes, what was written so
        far is committed and the result's status is INTERRUPTED.
        ``replace`` (with ``reread``): the file's reading replaces the stored content of
        executions already in trades, each old value kept in trade_corrections.
        """
        started = time.perf_counter()
        key = path_key(path)
        request = _Request(
            reread,
            replace and reread,
            replace and reread,
            final_line_ok,
            observer,
            should_stop,
            session if session is not None else self.file_session(),
        )
        try:
            result = self._open(path, key, request)
        except UnknownFormatError as exc:
            result = ImportResult(key, ImportStatus.REFUSED, message=str(exc))
        except FileReadError as exc:
            result = ImportResult(key, ImportStatus.ERROR, message=str(exc))
        result.duration_ms = (time.perf_counter() - started) * 1000
        return result

    def _open(self, path: Path, key: str, request: _Request) -> ImportResult:
        try:
            f = reader.open_regular(path)  # closed in the finally below
        except NotRegularFileError as exc:
            raise UnknownFormatError(f"{key}: {exc}") from None
        except FileNotFoundError:
            raise FileReadError(f"{key}: file vanished before it could be read") from None
        except OSError as exc:
            raise FileReadError(f"{key}: cannot open: {exc.strerror}") from None
        try:
            st = FileStat.of(os.fstat(f.fileno()))
            session = request.session
            with session.reading() as conn:
                prior = self.checkpoints.load(conn, key)
            if prior is None:
                prior = self.checkpoints.adopt_renamed(key, st, session.connection)
            if prior is not None and prior.settings_digest not in (None, self.writers.digest):
                # Refused, or rows rejected, under settings that have changed since.
                request = dataclasses.replace(request, reread=True)
            if not request.reread and self.evidence.settles_waiting(prior, path):
                request = dataclasses.replace(request, reread=True)  # the folder settles it
            if prior is not None and prior.repair_pending:
                # An interrupted --reread --replace: whoever reads next finishes it as one.
                request = dataclasses.replace(request, replace=True)
            final_ok = request.final_line_ok
            if final_ok is None:
                final_ok = (
                    seconds_until_settled(st.mtime_ns, self.settings.settle, time.time()) == 0
                )
            if (
                prior is not None
                and not request.reread
                and prior.same_version(st)
                and not (prior.pending_bytes and final_ok)
            ):
                session.unchanged(prior)
                return _as_unchanged(key, prior)
            return self._import(_OpenFile(path, key, f, st, prior, final_ok), request)
        except OSError as exc:
            raise FileReadError(f"{key}: read failed: {exc.strerror or exc}") from None
        finally:
            f.close()

    def _import(self, at: _OpenFile, request: _Request) -> ImportResult:
        header = _read_header(at)
        if header is None:
            size = at.stat.size
            return ImportResult(
                at.key,
                ImportStatus.EMPTY if size == 0 else ImportStatus.PENDING,
                pending_bytes=size,
                message=(
                    "file is empty; waiting for a header line"
                    if size == 0
                    else "header line not complete yet"
                ),
            )
        plan = self._plan(at, header, request)
        parser = RowParser(plan.layout, plan.date_order, plan.zone, plan.reading.parse)
        if not plan.layout.has_id:
            if self._legacy_left is None:  # asked once: no old stand-in is ever made again
                with request.session.reading() as conn:
                    self._legacy_left = legacy_ids.any_left(conn)
            replay_stand_ins(at.f, plan, parser, legacy=self._legacy_left, kept=self._counts)
            fresh = RowParser(plan.layout, plan.date_order, self.settings.tz, plan.reading.parse)
            with request.session.reading() as conn:  # saved over, lost fills read before?
                held = held_back(conn, at.f, plan, fresh)
            plan = dataclasses.replace(plan, held_back=held)
        return self._read(at.f, plan, parser, request)

    def _plan(self, at: _OpenFile, header: Header, request: _Request) -> ReadPlan:
        try:
            layout = sniff_layout(header.text, layout_options(self.settings))
        except UnknownFormatError as exc:
            message = f"{at.key}: {exc}"
            refused = Checkpoint(
                path=at.key,
                stat=at.stat,
                offset=header.data_start,
                lines_consumed=1,
                encoding=header.encoding,
                status=CheckpointStatus.REFUSED,
                last_error=message,
                settings_digest=self.writers.digest,
            )
            with request.session.writing() as conn:
                self.checkpoints.save(conn, refused)
            raise UnknownFormatError(message) from None
        resume = resume_point(at.f, header, at.stat, at.prior, reread=request.reread)
        reading = self.evidence.settle(
            at.f, at.path, header, layout, at.prior, resume=resume.resumed, repair=request.repair
        )
        if resume.resumed and self.evidence.settled_since(at.prior, reading):  # held back rows
            resume = resume_point(at.f, header, at.stat, at.prior, reread=True)
        return ReadPlan(
            path=at.path,
            key=at.key,
            stat=at.stat,
            header=header,
            layout=layout,
            reading=reading,
            resume=resume,
            final_line_ok=at.final_line_ok,
            prior=at.prior,
            replace=request.replace,
        )

    def _read(
        self, f: BinaryIO, plan: ReadPlan, parser: RowParser, request: _Request
    ) -> ImportResult:
        """Read from the plan's start to the end, committing as the transaction says."""
        size, encoding = plan.stat.size, plan.header.encoding
        offset, lines_done = plan.start, plan.first_line - 1
        chunks = reader.iter_chunks(
            f, plan.start, plan.first_line - plan.resume.unterminated, encoding, size
        )
        txn = Transaction(writers=self.writers, session=request.session, plan=plan, f=f)
        try:
            for batch in batches(chunks, min(self.settings.batch_size, WRITE_ROWS)):
                offset, lines_done = batch.end, batch.first + len(batch.texts) - 1
                txn.write(batch, parser)
                stop = request.should_stop is not None and request.should_stop()
                if stop or txn.due():
                    txn.commit(offset, lines_done, final=offset >= size)
                    if request.observer is not None:
                        request.observer.committed(offset, size)
                    if stop:
                        return _result(plan, txn, ImportStatus.INTERRUPTED, offset)
            tail = reader.tail_after(f, offset, size)
            if tail and plan.final_line_ok and _final_line(txn, parser, tail, offset, lines_done):
                offset, lines_done, tail = offset + len(tail), lines_done + 1, b""
            # The checkpoint is written even when no line was complete: size and mtime then
            # make the next unchanged look cost only a stat. (Unless the last batch's commit
            # already saved exactly this one.)
            if tail or not txn.saved_at(offset):
                txn.commit(offset, lines_done, final=True)
            if request.observer is not None and txn.lines:
                request.observer.committed(offset, size)
        finally:
            txn.close()
        self._counts.keep(plan, parser, txn.last)  # read to its end: counted on next time
        result = _result(plan, txn, ImportStatus.IMPORTED, offset, pending=len(tail))
        if result.pending_bytes and not result.rows_read:
            result.status = ImportStatus.PENDING
        if not plan.resume.resumed and self.evidence.shows_folder(plan.path, plan.reading):
            result.settles = self.checkpoints.unsettled_beside(plan.key)  # their rows wait
        return result


def _result(
    plan: ReadPlan, txn: Transaction, status: ImportStatus, offset: int, pending: int = 0
) -> ImportResult:
    return ImportResult(
        plan.key,
        status,
        counts=txn.committed,
        offset=offset,
        pending_bytes=pending,
        lines=txn.lines,
    )


def _as_unchanged(key: str, prior: Checkpoint) -> ImportResult:
    if prior.refused:
        status = ImportStatus.REFUSED
    else:
        status = ImportStatus.PENDING if prior.pending_bytes else ImportStatus.UNCHANGED
    return ImportResult(
        key,
        status,
        offset=prior.offset,
        pending_bytes=prior.pending_bytes,
        message=prior.last_error or "",
    )


def _read_header(at: _OpenFile) -> Header | None:
    try:
        header = reader.read_header(at.f)
    except UnknownFormatError as exc:  # a header over the limit: refused now, not awaited
        raise UnknownFormatError(f"{at.key}: {exc}") from None
    if header is None and at.final_line_ok and at.stat.size:
        # Quiet and still no line break: a header waiting for its newline waits on,
        # anything else (megabytes of one line, NUL bytes) is refused, with why.
        header = reader.read_header(at.f, final=True)
        if header is not None and _is_layout(header.text):
            header = None
    return header


def _final_line(
    txn: Transaction, parser: RowParser, tail: bytes, offset: int, lines_done: int
) -> bool:
    """Write a quiet file's last line without newline if it is a whole row; True if so."""
    plan = txn.plan
    text = reader.decode_line(tail, plan.header.encoding).rstrip("\r\n")
    fields = next(split_lines([text], plan.layout), [])
    if len(fields) != plan.layout.field_count:
        return False
    chunk = reader.Chunk(
        lines_done + 1, [text], offset + len(tail), tail=tail[-reader.TAIL_BYTES :]
    )
    txn.write(chunk, parser)
    return True


def _is_layout(header_text: str) -> bool:
    try:
        sniff_layout(header_text)
    except UnknownFormatError:
        return False
    return True
