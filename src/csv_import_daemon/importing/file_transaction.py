"""One write transaction of one file: parse batches, write rows, commit with the checkpoint.

Each batch: ledger insert (ON CONFLICT DO NOTHING, learning which IDs were new), trades for
exactly those IDs, rejected rows and conflicts; the checkpoint is saved in the same
transaction just before its commit. Nothing is counted as imported before that commit.

Large transactions matter on SQLite: random execution IDs dirty most index pages in every
batch, so each commit rewrote them all (a 1M-row import spent 35 s committing 20k-row
transactions). Rows are still written batch by batch, so memory stays flat.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass
from typing import Any, BinaryIO

from sqlalchemy import Connection, Engine
from sqlalchemy.dialects import postgresql, sqlite

from csv_import_daemon.config.contracts import contract_at
from csv_import_daemon.config.point_values import PointValues
from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db import legacy_ids, retention
from csv_import_daemon.db.corrections import exact_times, replace_changed
from csv_import_daemon.db.tables import REJECTIONS, CheckpointStatus, utc_now
from csv_import_daemon.db.writer import BatchWriter
from csv_import_daemon.files import reader
from csv_import_daemon.importing import rewrites
from csv_import_daemon.importing import seen_before as seen
from csv_import_daemon.importing.checkpoint import Checkpoint, starting_counts
from csv_import_daemon.importing.conventions import settings_digest
from csv_import_daemon.importing.identity import checkpoint_hash
from csv_import_daemon.importing.plan import ReadPlan
from csv_import_daemon.importing.rejection_log import RejectionLog
from csv_import_daemon.importing.result import Counts
from csv_import_daemon.importing.seen_before import TimeTexts
from csv_import_daemon.importing.write_session import WriteSession
from csv_import_daemon.logs import get_logger
from csv_import_daemon.parsing.batches import parse_batch
from csv_import_daemon.parsing.row_parser import Execution, RowError, RowParser
from csv_import_daemon.trips.refresh import TripChanges, refresh_round_trips

log = get_logger(__name__)

RAW_LIMIT = 4096  # a rejected line is kept in full up to this many characters


@dataclass(frozen=True, slots=True)
class Writers:
    """What every transaction of one service shares."""

    settings: Settings
    rows: BatchWriter
    # The settings that decide whether a file or row is importable: a checkpoint keeps it
    # when they did, so a change reads the file again.
    digest: str
    point_values: PointValues  # for the round trips kept current in each transaction
    sqlite: bool

    @classmethod
    def for_engine(cls, engine: Engine, settings: Settings) -> Writers:
        return cls(
            settings,
            BatchWriter(engine),
            settings_digest(settings),
            PointValues(dict(settings.point_values)),
            engine.dialect.name == "sqlite",
        )


class Transaction:
    """Batches of one file written into its session, committed with its checkpoint.

    ``committed`` holds the counts of what has been committed so far; after the last
    commit it is what the import did. The session decides what a commit is: a transaction
    of the file's own, or the release of its savepoint in a shared transaction whose
    commit is the real one (its caller hands out results only after that).
    """

    def __init__(
        self, *, writers: Writers, session: WriteSession, plan: ReadPlan, f: BinaryIO
    ) -> None:
        self.writers = writers
        self.session = session
        self.plan = plan
        self.f = f
        self._insert = sqlite.insert if writers.sqlite else postgresql.insert
        self.conn: Connection | None = None
        self.rows = 0
        self.started = 0.0
        self.pending = Counts()  # written, not committed yet
        self.committed = Counts()
        self.lines = 0
        self.tail: bytes | None = None  # the bytes just before the last batch's end
        self.last: Checkpoint | None = plan.prior if plan.resume.resumed else None
        self.parser: RowParser | None = None
        self.trips = TripChanges()  # the fills it changed: round trips follow them
        self.rejections = RejectionLog(plan.key)
        # A resumed file keeps the digest its earlier rows were decided under.
        self._keep_digest = self.last is not None and self.last.settings_digest is not None
        self.committed_here = False
        self._held: dict[int, str] = {}  # line -> stand-in of the batch's held-back rows
        self._base = starting_counts(plan.prior, resumed=plan.resume.resumed)

    def _open(self) -> Connection:
        if self.conn is None:
            self.conn = self.session.begin_file()
            self.started = time.monotonic()
        return self.conn

    def write(self, batch: reader.Chunk, parser: RowParser) -> None:
        self.parser = parser
        executions, errors = parse_batch(batch, parser)
        if self.plan.held_back is not None:
            executions, self._held = rewrites.hold_back(
                self.plan.held_back, executions, errors, batch
            )
        self.rejections.rows(errors)
        conn = self._open()
        if parser.stand_ins.legacy:  # the journal still holds stand-ins of 0.2.0 or earlier
            executions = _known_as_legacy(conn, executions, parser.stand_ins.legacy)
            parser.stand_ins.legacy.clear()
        texts = TimeTexts(parser.layout, batch)
        self.pending += self._write_rows(conn, executions, errors, batch, texts)
        if self.trips.full():  # the fills it holds stay few; still in this transaction
            refresh_round_trips(conn, self.trips.drain(), values=self.writers.point_values)
        self.rows += len(batch.texts)
        self.lines += len(batch.texts)
        self.tail = batch.tail

    def due(self) -> bool:
        return self.session.file_due(self.rows, self.started)

    def commit(self, offset: int, lines_done: int, *, final: bool = False) -> Checkpoint:
        """Save the checkpoint at ``offset`` and commit; returns the checkpoint saved.

        ``final``: the read reached the end; otherwise the checkpoint says "reading" and the
        bytes after it are unread (``status`` shows them as unread, not as a half line)."""
        self._open()  # a commit with nothing written still saves the checkpoint
        plan = self.plan
        if self.tail is None and self.last is not None and self.last.offset == offset:
            head = self.last.head_hash  # nothing read: what it vouches for was checked
        else:
            head = checkpoint_hash(self.f, plan.header, offset, self.tail or b"")
        cp = Checkpoint(
            path=plan.key,
            stat=plan.stat,
            head_hash=head,
            offset=offset,
            lines_consumed=lines_done,
            pending_bytes=max(0, plan.stat.size - offset),
            date_order=plan.date_order,
            encoding=plan.header.encoding,
            totals=self._base + self.committed + self.pending,
            # A --replace cut short is a state of the file: the next reader finishes it.
            status=self._final_status()
            if final
            else (CheckpointStatus.REPAIR_PENDING if plan.replace else CheckpointStatus.READING),
            last_error=self._rewritten(),
            **self._reading_columns(),
        )
        self.session.commit_file(cp, self.trips, self.rows)
        self.conn = None
        # Counted only once committed: nothing is reported as imported that is not.
        self.committed += self.pending
        self.pending = Counts()
        self.rows = 0
        self.last = cp
        self.committed_here = True
        return cp

    def _final_status(self) -> CheckpointStatus:
        return CheckpointStatus.OK if self._rewritten() is None else CheckpointStatus.REWRITTEN

    def _rewritten(self) -> str | None:
        """Why rows were held back: now, or (read on since) when the file was saved over."""
        if self.plan.held_back is not None:
            return self.plan.held_back.summary()
        last = self.last
        if last is not None and last.status is CheckpointStatus.REWRITTEN:
            return last.last_error
        return None

    def _reading_columns(self) -> dict[str, str | None]:
        reading, parser = self.plan.reading, self.parser
        decided = self._keep_digest or (parser is not None and parser.ambiguous_rows > 0)
        return {
            "date_order_source": reading.date_order_source,
            "decimal_mark": parser.decimal_mark if parser is not None else reading.decimal_mark,
            # Rows a setting decides were rejected: read again once that setting changes.
            "settings_digest": self.writers.digest if decided else None,
            "source_timezone": self.plan.pins.zone,
            "pinned_date_order": self.plan.pins.date_order,
            "pinned_decimal_mark": self.plan.pins.decimal_mark,
        }

    def saved_at(self, offset: int) -> bool:
        """Nothing written since a commit of this import saved a checkpoint at ``offset``."""
        return (
            self.conn is None
            and self.committed_here
            and self.last is not None
            and (self.last.offset == offset)
        )

    def close(self) -> None:
        self.rejections.close()
        self.trips.drain()  # a rolled-back transaction's changes are no changes
        if self.conn is not None:
            self.session.end_file()
            self.conn = None

    # -- rows ------------------------------------------------------------------------------

    def _write_rows(
        self,
        conn: Connection,
        executions: list[Execution],
        errors: list[RowError],
        batch: reader.Chunk,
        texts: TimeTexts,
    ) -> Counts:
        # First occurrence of an ID in the batch wins; sorted so concurrent writers on
        # PostgreSQL take row locks in one order and cannot deadlock.
        unique: dict[str, Execution] = {}
        repeats: list[Execution] = []
        for ex in executions:
            if ex.execution_id in unique:
                repeats.append(ex)
            else:
                unique[ex.execution_id] = ex
        ordered = [unique[k] for k in sorted(unique)]
        if gone := retention.refused(conn, ordered):  # maybe deleted after a ledger prune
            errors.extend(
                _before_horizon(ex, batch) for ex in executions if ex.execution_id in gone
            )
            ordered = [ex for ex in ordered if ex.execution_id not in gone]
            repeats = [ex for ex in repeats if ex.execution_id not in gone]
        now = utc_now()
        inserted, stored = self.writers.rows.insert(
            conn, ordered, self.plan.csv_filename, self.plan.key, now
        )
        self.trips.add(ordered, inserted)
        if inserted:
            seen.mark_stored(conn, texts, (ex for ex in ordered if ex.execution_id in inserted))
        seen_before = [ex for ex in ordered if ex.execution_id not in inserted]
        replaced: set[str] = set()
        if self.plan.replace:
            replaced = self._replace(conn, texts, seen_before, stored, now)
            seen_before = [ex for ex in seen_before if ex.execution_id not in replaced]
        pairs: list[seen.Pair] = []
        first: dict[str, Execution] = {}  # repeats compared with the batch's first reading
        for ex in seen_before + repeats:
            theirs = stored.get(ex.execution_id)
            # A repeat compares with the batch's first reading: of a stored row, unless that
            # first reading just replaced it (then the stored row is that reading).
            replaced_now = ex.execution_id in replaced
            if (theirs is None or replaced_now) and unique[ex.execution_id] is not ex:
                first[ex.execution_id] = unique[ex.execution_id]
                theirs = seen.as_stored(first[ex.execution_id])
            if theirs is not None:
                pairs.append((ex, theirs))
        equal = (ex for ex in seen_before if ex.execution_id not in stored)
        seen.confirm_exact(conn, texts, equal)
        conflict_ids, refined = self._compare(conn, texts, pairs, first, (errors, batch, now))
        duplicates = len(seen_before) + len(repeats) - len(conflict_ids) - refined
        if errors:
            self._record(conn, errors, conflict_ids, now)
        rejected = len(errors) - len(conflict_ids)
        corrected = len(replaced) + refined
        return Counts(len(inserted), duplicates, rejected, len(conflict_ids), corrected)

    def _replace(
        self, conn: Connection, texts: TimeTexts, rows: list[Execution], stored: Any, now: Any
    ) -> set[str]:
        """--reread --replace: only executions still in trades (a trade the user deleted is
        never brought back), every replaced value kept in trade_corrections.

        (replace_changed updates rows of trades only: a deleted one has none to update;
        ``stored`` holds only the rows whose conflict fields differ, so all are asked.)"""
        candidates = seen.keep_stored_seconds(texts, rows, stored)
        replaced = replace_changed(conn, candidates, source_file=self.plan.key, now=now)
        seen.replaced(conn, texts, [ex for ex in candidates if ex.execution_id in replaced], stored)
        # Replaced fills are in their round trips: recompute from where each is and was
        # (no stored row: unmoved), never continue a state that would count it again.
        for ex in (ex for ex in candidates if ex.execution_id in replaced):
            for at in (seen.as_stored(ex), stored.get(ex.execution_id)):
                if at is not None:
                    contract = contract_at(at["instrument"], at["executed_at"])
                    self.trips.note(at["account"], contract, at["executed_at"])
        return replaced

    def _compare(
        self,
        conn: Connection,
        texts: TimeTexts,
        pairs: list[seen.Pair],
        first: dict[str, Execution],
        out: tuple[list[RowError], reader.Chunk, Any],
    ) -> tuple[dict[int, str], int]:
        """Rows seen before against what is stored: conflicts (line -> ID, their errors
        added to ``out``'s), and how many exact times replaced a stored whole minute."""
        errors, batch, now = out
        timed = [(ex, t) for ex, t in pairs if seen.differing(ex, t) == ["executed_at"]]
        same, finer = seen.within_minute(conn, texts, timed, first)
        refined = exact_times(conn, finer, source_file=self.plan.key, now=now)
        for ex, old in finer:  # its round trips are recomputed from where it was and is
            contract = contract_at(ex.instrument, ex.executed_at)
            for at in (old, ex.executed_at):
                self.trips.note(ex.account, contract, at)
        done = {ex.line for ex, _ in finer if ex.execution_id in refined}
        same |= done
        conflict_ids: dict[int, str] = {}
        for ex, theirs in pairs:
            error = None if ex.line in same else seen.conflict(ex, theirs, batch)
            if error is None:
                continue
            errors.append(error)
            conflict_ids[ex.line] = ex.execution_id
            log.warning(
                "execution_conflict",
                file=self.plan.key,
                line=ex.line,
                execution_id=ex.execution_id,
                detail=error.detail,
            )
        return conflict_ids, len(done)

    def _record(
        self, conn: Connection, errors: list[RowError], conflict_ids: dict[int, str], now: Any
    ) -> None:
        """Rejected rows and conflicts, once each however often the file is read."""
        key = self.plan.key
        stmt = self._insert(REJECTIONS).on_conflict_do_nothing(index_elements=["fingerprint"])
        conn.execute(
            stmt,
            [
                {
                    "fingerprint": _fingerprint(key, e.line, e.raw, e.reason),
                    "source_file": key,
                    "line": e.line,
                    "raw": stored_raw(e.raw),
                    "reason": e.reason,
                    "detail": stored_raw(e.detail),
                    "execution_id": (conflict_ids if e.reason == "conflict" else self._held).get(
                        e.line
                    ),
                    "created_at": now,
                }
                for e in errors
            ],
        )


def _known_as_legacy(
    conn: Connection, executions: list[Execution], legacy: dict[int, str]
) -> list[Execution]:
    """A row whose old stand-in the journal still holds is that execution: it keeps the
    old ID (a duplicate, a conflict, or a trade deleted that stays deleted)."""
    old = {ex.line: legacy[ex.line] for ex in executions if ex.line in legacy}
    found = legacy_ids.known(conn, old.values())
    if not found:
        return executions
    return [
        dataclasses.replace(ex, execution_id=old[ex.line]) if old.get(ex.line) in found else ex
        for ex in executions
    ]


def _before_horizon(ex: Execution, batch: reader.Chunk) -> RowError:
    return RowError(
        ex.line,
        batch.texts[ex.line - batch.first],
        "before_retention_horizon",
        f"execution ID {ex.execution_id} is older than the ledger's retention horizon and "
        "not in the journal: its trade may have been deleted after the ledger was pruned, "
        "so it is not stored again",
    )


def stored_raw(text: str) -> str:
    """A rejected line (or its detail) as ``import_rejections`` keeps it: PostgreSQL text
    cannot hold NUL, and a several-MB line is kept only in part."""
    return text[:RAW_LIMIT].replace("\x00", "\\x00")


def _fingerprint(*parts: object) -> str:
    joined = "\x1f".join(str(p) for p in parts).encode("utf-8", "backslashreplace")
    return hashlib.blake2b(joined, digest_size=32).hexdigest()
