"""The import service: parse a file's new lines, dedup on execution ID, commit with its checkpoint.

Each batch is one transaction: ledger insert (ON CONFLICT DO NOTHING RETURNING the IDs really
inserted), trades for exactly those IDs, rejected rows and conflicts, and the file's checkpoint.
Nothing is marked as seen before its commit.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from csv_import_daemon import reader
from csv_import_daemon.config import Settings
from csv_import_daemon.db.engine import WRITE_OPTION, writing
from csv_import_daemon.db.models import (
    LIMITS,
)
from csv_import_daemon.db.tables import FILES, REJECTIONS
from csv_import_daemon.db.writer import CONFLICT_FIELDS, BatchWriter
from csv_import_daemon.errors import FileReadError, UnknownFormatError
from csv_import_daemon.logs import get_logger
from csv_import_daemon.parser import (
    DateOrder,
    Execution,
    Layout,
    RowError,
    RowParser,
    date_order_from_filename,
    date_order_from_times,
    sniff_layout,
    split_lines,
)
from csv_import_daemon.paths import path_key
from csv_import_daemon.point_values import PointValues
from csv_import_daemon.result import ImportResult, ImportStatus
from csv_import_daemon.trip_store import TripChanges, refresh_round_trips

log = get_logger(__name__)


_DATE_RE = re.compile(rb"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")
RAW_LIMIT = 4096
COUNT_KEYS = ("inserted", "duplicates", "rejected", "conflicts")
# Rows parsed and written per statement batch; a transaction (settings.batch_size rows or
# settings.commit_seconds) spans several, so memory stays flat while commits stay rare.
WRITE_ROWS = 20_000

Progress = Callable[[int, int], None]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _clean_raw(text: str) -> str:
    # PostgreSQL text cannot hold NUL; a several-MB line is kept only in part.
    return text[:RAW_LIMIT].replace("\x00", "\\x00")


def _fingerprint(*parts: object) -> str:
    joined = "\x1f".join(str(p) for p in parts).encode("utf-8", "backslashreplace")
    return hashlib.blake2b(joined, digest_size=32).hexdigest()


class ImportService:
    """Imports files for one daemon instance. One instance per process is the only writer."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.instance = settings.instance_name
        self._dialect = engine.dialect.name
        self._insert = sqlite.insert if self._dialect == "sqlite" else postgresql.insert
        self._writer = BatchWriter(engine)
        # Round trips (issue 13): the open transaction's changed fills, refreshed at commit.
        self.trip_changes = TripChanges()
        self.point_values = PointValues(dict(settings.point_values))

    # -- checkpoints -------------------------------------------------------------------

    def load_checkpoint(self, conn: Connection, key: str) -> dict[str, Any] | None:
        row = (
            conn.execute(
                select(FILES).where(FILES.c.instance == self.instance, FILES.c.path == key)
            )
            .mappings()
            .first()
        )
        return dict(row) if row else None

    def _save_checkpoint(self, conn: Connection, key: str, values: dict[str, Any]) -> None:
        values = {**values, "instance": self.instance, "path": key, "updated_at": _now()}
        stmt = self._insert(FILES).values(**values)
        update = {k: stmt.excluded[k] for k in values if k not in ("instance", "path")}
        conn.execute(stmt.on_conflict_do_update(index_elements=["instance", "path"], set_=update))

    def move_checkpoint(self, old: Path, new: Path, archived: bool = False) -> None:
        """Carry a file's checkpoint to its new path (after a rename or an archive move)."""
        with writing(self.engine) as conn:
            conn.execute(
                FILES.delete().where(
                    FILES.c.instance == self.instance, FILES.c.path == path_key(new)
                )
            )
            values: dict[str, Any] = {"path": path_key(new), "updated_at": _now()}
            if archived:
                values["archived_to"] = path_key(new)
            conn.execute(
                FILES.update()
                .where(FILES.c.instance == self.instance, FILES.c.path == path_key(old))
                .values(**values)
            )

    def _adopt_renamed(
        self, conn: Connection, key: str, st: reader.FileStat
    ) -> dict[str, Any] | None:
        """A file renamed within the folder keeps its checkpoint (same device and inode)."""
        rows = (
            conn.execute(
                select(FILES).where(
                    FILES.c.instance == self.instance,
                    FILES.c.device == st.device,
                    FILES.c.inode == st.inode,
                )
            )
            .mappings()
            .all()
        )
        for row in rows:
            old = os.fsdecode(row["path"].encode("utf-8", "backslashreplace"))
            if not os.path.exists(old):
                conn.execute(
                    FILES.delete().where(FILES.c.instance == self.instance, FILES.c.path == key)
                )
                conn.execute(FILES.update().where(FILES.c.id == row["id"]).values(path=key))
                return {**dict(row), "path": key}
        return None

    # -- the import itself ---------------------------------------------------------------

    def import_file(
        self,
        path: Path,
        *,
        reread: bool = False,
        final_line_ok: bool | None = None,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> ImportResult:
        """Import what is new in ``path``. Database errors propagate; file problems do not.

        ``final_line_ok``: may a last line without newline be read as final? None means
        "if the file has been unchanged for the settle period".
        ``progress(offset, size)`` is called after each commit; an exception raised from it
        stops the import with everything before it committed.
        ``should_stop()`` is asked after each batch; when it says yes, what was written so
        far is committed and the result's status is "interrupted".
        """
        started = time.perf_counter()
        key = path_key(path)
        result = ImportResult(path=key)
        try:
            self._import(path, key, result, reread, final_line_ok, progress, should_stop)
        except UnknownFormatError as exc:
            result.status, result.message = ImportStatus.REFUSED, str(exc)
        except FileReadError as exc:
            result.status, result.message = ImportStatus.ERROR, str(exc)
        result.duration_ms = (time.perf_counter() - started) * 1000
        return result

    def _import(
        self,
        path: Path,
        key: str,
        result: ImportResult,
        reread: bool,
        final_line_ok: bool | None,
        progress: Progress | None,
        should_stop: Callable[[], bool] | None,
    ) -> None:
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed in the finally below
        except FileNotFoundError:
            raise FileReadError(f"{key}: file vanished before it could be read") from None
        except OSError as exc:
            raise FileReadError(f"{key}: cannot open: {exc.strerror}") from None
        try:
            st = reader.FileStat.of(os.fstat(f.fileno()))
            with self.engine.connect() as conn:
                cp = self.load_checkpoint(conn, key)
            if cp is None:
                with writing(self.engine) as conn:
                    cp = self._adopt_renamed(conn, key, st)
            if final_line_ok is None:
                age = time.time() - st.mtime_ns / 1e9
                final_line_ok = age >= self.settings.settle
            if (
                cp is not None
                and not reread
                and (cp["device"], cp["inode"], cp["size"], cp["mtime_ns"])
                == (st.device, st.inode, st.size, st.mtime_ns)
                and not (cp["pending_bytes"] and final_line_ok)
            ):
                result.offset, result.pending_bytes = cp["offset"], cp["pending_bytes"]
                result.status = (
                    ImportStatus.REFUSED
                    if cp["status"] == ImportStatus.REFUSED
                    else (ImportStatus.PENDING if cp["pending_bytes"] else ImportStatus.UNCHANGED)
                )
                result.message = cp["last_error"] or ""
                return
            self._read(f, path, key, st, cp, result, reread, final_line_ok, progress, should_stop)
        except OSError as exc:
            raise FileReadError(f"{key}: read failed: {exc.strerror or exc}") from None
        finally:
            f.close()

    def _read(
        self,
        f: BinaryIO,
        path: Path,
        key: str,
        st: reader.FileStat,
        cp: dict[str, Any] | None,
        result: ImportResult,
        reread: bool,
        final_line_ok: bool,
        progress: Progress | None,
        should_stop: Callable[[], bool] | None,
    ) -> None:
        header = reader.read_header(f)
        if header is None and final_line_ok and st.size:
            # Quiet and still no line break: a header waiting for its newline waits on,
            # anything else (megabytes of one line, NUL bytes) is refused below, with why.
            header = reader.read_header(f, final=True)
            if header is not None and _is_layout(header.text):
                header = None
        if header is None:
            result.status = ImportStatus.EMPTY if st.size == 0 else ImportStatus.PENDING
            result.message = (
                "file is empty; waiting for a header line"
                if st.size == 0
                else "header line not complete yet"
            )
            result.pending_bytes = st.size
            return
        try:
            layout = sniff_layout(header.text)
        except UnknownFormatError as exc:
            message = f"{key}: {exc}"
            with writing(self.engine) as conn:
                self._save_checkpoint(
                    conn,
                    key,
                    self._cp_values(
                        st,
                        None,
                        header.data_start,
                        1,
                        0,
                        None,
                        header.encoding,
                        status="refused",
                        last_error=message,
                    ),
                )
            raise UnknownFormatError(message) from None

        # Nothing but the header read (lines_consumed 1): start at this header's end, which
        # differs for a new file that reuses the inode (a CRLF header is a byte longer).
        resume = (
            cp is not None
            and not reread
            and cp["status"] != ImportStatus.REFUSED
            and cp["lines_consumed"] > 1
            and cp["device"] == st.device
            and cp["inode"] == st.inode
            and cp["offset"] >= header.data_start
            and st.size >= cp["offset"]
            and reader.head_matches(f, header.data_start, cp["head_hash"], cp["offset"])
        )
        start = cp["offset"] if resume and cp else header.data_start
        number = cp["lines_consumed"] + 1 if resume and cp else 2
        # A final line settled before its newline came: what follows it up to the newline
        # is the rest of that line, so it keeps that line's number.
        nl = reader.newline_of(header.encoding)
        unterminated = (
            start > header.data_start and reader.tail_after(f, start - len(nl), start) != nl
        )
        date_order = self._settle_date_order(
            f, path, header, layout, cp["date_order"] if resume and cp else None
        )
        parser = RowParser(layout, date_order, self.settings.tz)
        if not layout.has_id and start > header.data_start:
            # Stand-in IDs count identical earlier rows; replay them without importing.
            replayed = header.data_start
            for chunk in reader.iter_chunks(f, header.data_start, 2, header.encoding, start):
                for i, fields in enumerate(split_lines(chunk.texts, layout)):
                    parser.parse(fields, chunk.first + i, chunk.texts[i])
                replayed = chunk.end
            if unterminated:  # the settled final line counts too
                text = reader.decode_line(
                    reader.tail_after(f, replayed, start), header.encoding
                ).rstrip("\r")
                parser.parse(next(split_lines([text], layout), []), number - 1, text)

        offset, lines_done = start, number - 1
        chunks = reader.iter_chunks(f, start, number - unterminated, header.encoding, st.size)
        txn = _Transaction(self, key, path, st, header, layout, date_order, f, result)
        try:
            for batch in _batches(chunks, min(self.settings.batch_size, WRITE_ROWS)):
                offset, lines_done = batch.end, batch.first + len(batch.texts) - 1
                txn.write(batch, parser)
                stop = should_stop is not None and should_stop()
                if stop or txn.due():
                    txn.commit(offset, lines_done)
                    if progress:
                        progress(offset, st.size)
                    if stop:
                        result.status, result.offset = ImportStatus.INTERRUPTED, offset
                        return

            tail = reader.tail_after(f, offset, st.size)
            if tail and final_line_ok:
                text = reader.decode_line(tail, header.encoding).rstrip("\r\n")
                fields = next(split_lines([text], layout), [])
                if len(fields) == layout.field_count:
                    txn.write(
                        reader.Chunk(
                            lines_done + 1,
                            [text],
                            offset + len(tail),
                            tail=tail[-reader.TAIL_BYTES :],
                        ),
                        parser,
                    )
                    offset, lines_done, tail = offset + len(tail), lines_done + 1, b""
            result.pending_bytes = len(tail)
            # The checkpoint is written even when no line was complete: size and mtime then
            # make the next unchanged look cost only a stat.
            txn.commit(offset, lines_done)
            if progress and result.lines:
                progress(offset, st.size)
        finally:
            txn.close()
        result.offset = offset
        if result.pending_bytes and result.status == ImportStatus.IMPORTED:
            result.status = (
                ImportStatus.PENDING
                if not (result.inserted or result.duplicates or result.rejected)
                else ImportStatus.IMPORTED
            )

    def _settle_date_order(
        self, f: BinaryIO, path: Path, header: reader.Header, layout: Layout, settled: str | None
    ) -> DateOrder:
        """Checkpoint, then an unambiguous date in the content, then the name, then config."""
        if settled in ("mdy", "dmy"):
            return settled  # type: ignore[return-value]
        f.seek(header.data_start)
        first_times: list[str] = []
        while block := f.read(reader.BLOCK_BYTES):
            if header.encoding != "utf-8":
                block = block.decode(header.encoding, "replace").encode("utf-8")
            for m in _DATE_RE.finditer(block):
                a, b = int(m.group(1)), int(m.group(2))
                if len(first_times) < 5:
                    first_times.append(m.group(0).decode("ascii") + " 00:00:00")
                if a > 12 >= b:
                    return "dmy"
                if b > 12 >= a:
                    return "mdy"
        order = date_order_from_times(first_times) or date_order_from_filename(
            path.name, first_times
        )
        if order:
            return order
        return "dmy" if self.settings.date_order == "dmy" else "mdy"

    def _cp_values(
        self,
        st: reader.FileStat,
        head: str | None,
        offset: int,
        lines: int,
        pending: int,
        date_order: str | None,
        encoding: str,
        **extra: Any,
    ) -> dict[str, Any]:
        return {
            "device": st.device,
            "inode": st.inode,
            "size": st.size,
            "mtime_ns": st.mtime_ns,
            "head_hash": head,
            "offset": offset,
            "lines_consumed": lines,
            "pending_bytes": pending,
            "date_order": date_order,
            "encoding": encoding,
            "inserted": 0,
            "duplicates": 0,
            "rejected": 0,
            "conflicts": 0,
            "status": "ok",
            "last_error": None,
            **extra,
        }

    def _parse_batch(
        self, batch: reader.Chunk, parser: RowParser, layout: Layout
    ) -> tuple[list[Execution], list[RowError]]:
        executions: list[Execution] = []
        errors: list[RowError] = []
        texts = batch.texts
        parse = parser.parse
        for i, fields in enumerate(split_lines(texts, layout)):
            number = batch.first + i
            if i in batch.too_long:
                errors.append(
                    RowError(
                        number,
                        texts[i],
                        "line_too_long",
                        f"line longer than {reader.MAX_LINE_BYTES} bytes",
                    )
                )
                continue
            parsed = parse(fields, number, texts[i])
            if type(parsed) is RowError:
                if parsed.reason != "blank":
                    errors.append(parsed)
            elif (too_long := _too_long(parsed)) is not None:  # type: ignore[arg-type]
                errors.append(RowError(number, texts[i], "too_long", too_long))
            else:
                executions.append(parsed)  # type: ignore[arg-type]
        return executions, errors

    def _write_rows(
        self,
        conn: Connection,
        key: str,
        name: str,
        executions: list[Execution],
        errors: list[RowError],
        batch: reader.Chunk,
    ) -> dict[str, int]:
        now = _now()
        conflict_ids: dict[int, str] = {}
        counts = {"inserted": 0, "duplicates": 0, "rejected": len(errors), "conflicts": 0}
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
        inserted, stored = self._writer.insert(conn, ordered, name, key, now)
        self.trip_changes.add(ordered, inserted)  # round trips (issue 13)
        counts["inserted"] = len(inserted)
        seen_before = [ex for ex in ordered if ex.execution_id not in inserted]
        for ex in seen_before + repeats:
            theirs = stored.get(ex.execution_id)
            if theirs is None and unique[ex.execution_id] is not ex:
                theirs = _as_stored(unique[ex.execution_id])
            # No stored trade: it was deleted; the ledger remembers it, nothing to compare.
            diff = [k for k in CONFLICT_FIELDS if theirs[k] != getattr(ex, k)] if theirs else []
            if not diff:
                counts["duplicates"] += 1
                continue
            counts["conflicts"] += 1
            detail = (
                "; ".join(f"{k}: stored {theirs[k]!s}, new {getattr(ex, k)!s}" for k in diff)
                if theirs
                else ""
            )
            errors.append(
                RowError(
                    ex.line,
                    batch.texts[ex.line - batch.first],
                    "conflict",
                    f"execution ID {ex.execution_id} already stored with "
                    f"other content; the stored row wins ({detail})",
                )
            )
            conflict_ids[ex.line] = ex.execution_id
            log.warning(
                "execution_conflict",
                file=key,
                line=ex.line,
                execution_id=ex.execution_id,
                detail=detail,
            )
        if errors:
            conn.execute(
                self._insert(REJECTIONS).on_conflict_do_nothing(index_elements=["fingerprint"]),
                [
                    {
                        "fingerprint": _fingerprint(key, e.line, e.raw, e.reason),
                        "source_file": key,
                        "line": e.line,
                        "raw": _clean_raw(e.raw),
                        "reason": e.reason,
                        "detail": _clean_raw(e.detail),
                        "execution_id": conflict_ids.get(e.line)
                        if e.reason == "conflict"
                        else None,
                        "created_at": now,
                    }
                    for e in errors
                ],
            )
        return counts


class _Transaction:
    """One write transaction spanning several batches of one file.

    Large transactions matter on SQLite: random execution IDs dirty most index pages in
    every batch, so each commit rewrote them all (a 1M-row import spent 35 s committing
    20k-row transactions). Rows are still written batch by batch, so memory stays flat;
    the checkpoint is saved in the same transaction just before each commit.
    """

    def __init__(
        self,
        service: ImportService,
        key: str,
        path: Path,
        st: reader.FileStat,
        header: reader.Header,
        layout: Layout,
        date_order: str,
        f: BinaryIO,
        result: ImportResult,
    ) -> None:
        self.service, self.key, self.st, self.header = service, key, st, header
        self.layout, self.date_order, self.f, self.result = layout, date_order, f, result
        self.name = os.fsencode(path.name).decode("utf-8", "backslashreplace")[:255]
        self.conn: Connection | None = None
        self.tx: Any = None
        self.rows = 0
        self.started = 0.0
        self.counts = dict.fromkeys(COUNT_KEYS, 0)
        self.tail: bytes | None = None  # the bytes just before the last batch's end

    def _open(self) -> Connection:
        if self.conn is None:
            self.conn = self.service.engine.connect()
            self.conn.execution_options(**{WRITE_OPTION: True})
            self.tx = self.conn.begin()
            self.started = time.monotonic()
            self.service.trip_changes.drain()  # round trips (issue 13): a fresh transaction
        return self.conn

    def write(self, batch: reader.Chunk, parser: RowParser) -> None:
        executions, errors = self.service._parse_batch(batch, parser, self.layout)
        for err in errors:
            log.warning(
                "row_rejected", file=self.key, line=err.line, reason=err.reason, detail=err.detail
            )
        conn = self._open()
        counts = self.service._write_rows(conn, self.key, self.name, executions, errors, batch)
        for k in COUNT_KEYS:
            self.counts[k] += counts[k]
        self.rows += len(batch.texts)
        self.result.lines += len(batch.texts)
        self.tail = batch.tail

    def due(self) -> bool:
        if self.service._dialect != "sqlite":
            # Each batch is sorted by execution ID, but two batches in one transaction are
            # not: concurrent writers could then lock shared IDs in opposite orders and
            # deadlock. PostgreSQL commits cheaply, so one batch per transaction.
            return True
        settings = self.service.settings
        return (
            self.rows >= settings.batch_size
            or time.monotonic() - self.started >= settings.commit_seconds
        )

    def commit(self, offset: int, lines_done: int) -> None:
        conn = self._open()
        service = self.service
        cp = service.load_checkpoint(conn, self.key)
        if self.tail is None and cp is not None and cp["offset"] == offset:
            head = cp["head_hash"]  # nothing read: what it vouches for was checked on resume
        else:
            head = reader.head_hash(
                self.f,
                self.header.data_start,
                min(reader.HEAD_BYTES, offset - self.header.data_start),
                self.tail or b"",
            )
        totals = {k: (cp[k] if cp else 0) + self.counts[k] for k in COUNT_KEYS}
        # Round trips (issue 13): in this transaction, so they always agree with trades.
        refresh_round_trips(conn, service.trip_changes.drain(), values=service.point_values)
        service._save_checkpoint(
            conn,
            self.key,
            {
                **service._cp_values(
                    self.st,
                    head,
                    offset,
                    lines_done,
                    max(0, self.st.size - offset),
                    self.date_order,
                    self.header.encoding,
                ),
                **totals,
            },
        )
        self.tx.commit()
        self.close()
        # Counted only once committed: nothing is reported as imported that is not.
        for k in COUNT_KEYS:
            setattr(self.result, k, getattr(self.result, k) + self.counts[k])
        self.counts = dict.fromkeys(COUNT_KEYS, 0)
        self.rows = 0

    def close(self) -> None:
        if self.conn is not None:
            if self.tx is not None and self.tx.is_active:
                self.tx.rollback()
            self.conn.close()
            self.conn, self.tx = None, None


def _is_layout(header_text: str) -> bool:
    try:
        sniff_layout(header_text)
    except UnknownFormatError:
        return False
    return True


def _as_stored(ex: Execution) -> dict[str, Any]:
    return {k: getattr(ex, k) for k in CONFLICT_FIELDS}


def _too_long(ex: Execution) -> str | None:
    # One cheap comparison chain first: almost every row passes it.
    if (
        len(ex.execution_id) <= _ID_MAX
        and len(ex.account) <= _ACCOUNT_MAX
        and len(ex.instrument) <= _INSTRUMENT_MAX
        and len(ex.action) <= _ACTION_MAX
        and len(ex.order_name or "") <= _ORDER_NAME_MAX
        and len(ex.order_id or "") <= _ORDER_ID_MAX
        and len(ex.connection or "") <= _CONNECTION_MAX
        and len(ex.position_after or "") <= _POSITION_MAX
        and len(ex.entry_exit or "") <= _ENTRY_EXIT_MAX
    ):
        return None
    for name, limit in LIMITS.items():
        value = getattr(ex, name, None)
        if isinstance(value, str) and len(value) > limit:
            return f"{name} is {len(value)} characters; the column holds at most {limit}"
    return None


_ID_MAX, _ACCOUNT_MAX, _INSTRUMENT_MAX = (
    LIMITS["execution_id"],
    LIMITS["account"],
    LIMITS["instrument"],
)
_ACTION_MAX, _ORDER_NAME_MAX, _ORDER_ID_MAX = (
    LIMITS["action"],
    LIMITS["order_name"],
    LIMITS["order_id"],
)
_CONNECTION_MAX, _POSITION_MAX, _ENTRY_EXIT_MAX = (
    LIMITS["connection"],
    LIMITS["position_after"],
    LIMITS["entry_exit"],
)


def _batches(chunks: Iterable[reader.Chunk], size: int) -> Iterator[reader.Chunk]:
    """Join the reader's block-sized chunks into transactions of at least ``size`` lines."""
    acc: reader.Chunk | None = None
    for chunk in chunks:
        if acc is None:
            acc = chunk
        else:
            base = len(acc.texts)
            acc = reader.Chunk(
                acc.first,
                acc.texts + chunk.texts,
                chunk.end,
                acc.too_long | {base + i for i in chunk.too_long},
                chunk.tail,
            )
        if len(acc.texts) >= size:
            yield acc
            acc = None
    if acc is not None:
        yield acc
