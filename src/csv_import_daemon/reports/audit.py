"""The audit of one file against the journal: is every execution it holds where it belongs?

The file is read with the importer's reader and parser under the settings it was imported
with (its checkpoint's settled date order; the encoding comes from the file itself), and
each row is looked up in the ledger, in ``trades`` and in ``import_rejections``.

The checkpoint says how far the journal claims to have read the file. A row within that
claim whose execution ID is not in the ledger is **missing**: the promise is broken. A row
after it is **unread**: the daemon reads it next (a growing file, a restored backup). A file
without any checkpoint (given by path) is claimed whole: nothing says it will be read.
"""

from __future__ import annotations

import operator
import os
import zoneinfo
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Connection, bindparam, select

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db import retention
from csv_import_daemon.db.corrections import MINUTE_ONLY
from csv_import_daemon.db.tables import LEDGER, REJECTIONS, TRADES, CheckpointStatus
from csv_import_daemon.db.writer import CONFLICT_FIELDS
from csv_import_daemon.errors import NotRegularFileError, UnknownFormatError
from csv_import_daemon.files import reader
from csv_import_daemon.files.names import path_key
from csv_import_daemon.importing.checkpoint import Checkpoint
from csv_import_daemon.importing.conventions import layout_options
from csv_import_daemon.importing.file_transaction import stored_raw
from csv_import_daemon.importing.identity import ResumeReason, resume_point
from csv_import_daemon.importing.seen_before import TimeTexts, within
from csv_import_daemon.importing.service import ImportService
from csv_import_daemon.parsing.batches import parse_batch
from csv_import_daemon.parsing.row_parser import (
    Execution,
    Layout,
    RowParser,
    sniff_layout,
    split_lines,
)
from csv_import_daemon.reports.audit_result import (
    AuditStatus,
    CheckpointClaim,
    FileAudit,
    ReadObserver,
)
from csv_import_daemon.reports.readings import ReadingCheck

LOOKUP_IDS = 1000  # IDs per ledger query: few round trips, well under parameter limits
BATCH_ROWS = 20_000  # rows parsed before their IDs are looked up (memory stays flat)
UNCLAIMED = 10**12  # "every line": a file no checkpoint speaks for


class Auditor:
    """Audits files on one read-only connection (one snapshot of the journal)."""

    def __init__(self, *, conn: Connection, service: ImportService, settings: Settings) -> None:
        self.conn = conn
        self.service = service  # its parsing rules, never its writes
        self.settings = settings
        # The file being audited: its independent reading check, and where its columns are.
        self._check_readings: ReadingCheck | None = None
        self._fields: Mapping[str, int] = {}
        self._to_minute: set[int] = set()  # rows written without seconds (13:10 is 13:10:38)
        cols = [LEDGER.c.execution_id, TRADES.c.execution_id.label("trade_id")]
        compared = [
            TRADES.c[k]
            for k in (*CONFLICT_FIELDS, "time_precision", "commission", "commission_source")
        ]
        compared.append(TRADES.c.contract)  # last: read by name, for ``FileAudit.spans``
        self._lookup = (
            select(*cols, *compared)
            .select_from(LEDGER.outerjoin(TRADES, TRADES.c.execution_id == LEDGER.c.execution_id))
            .where(LEDGER.c.execution_id.in_(bindparam("ids", expanding=True)))
        )
        # A pruned ledger row: the trade itself still says the execution is stored.
        self._trades = select(
            TRADES.c.execution_id,
            TRADES.c.execution_id.label("trade_id"),
            *compared,
        ).where(TRADES.c.execution_id.in_(bindparam("ids", expanding=True)))
        self._horizon = retention.horizon(conn)
        rows = conn.execute(
            select(
                REJECTIONS.c.line, REJECTIONS.c.reason, REJECTIONS.c.raw, REJECTIONS.c.execution_id
            )
        ).all()
        # Matched on line, reason and text, not on the file name: an archived file has
        # moved since its rejections were recorded.
        self._rejections = {(r.line, r.reason, r.raw) for r in rows if r.reason != "conflict"}
        # Rows of a file saved over, held back as maybe edited fills: rejected, not missing.
        self._held_back = {r.execution_id for r in rows if r.reason == "rewritten"}
        self._conflicts = {
            r.execution_id
            for r in conn.execute(
                select(REJECTIONS.c.execution_id).where(REJECTIONS.c.reason == "conflict")
            )
        }

    def audit(
        self,
        path: Path,
        checkpoint: Checkpoint | None,
        observer: ReadObserver | None = None,
    ) -> FileAudit:
        out = FileAudit(file=path_key(path))
        try:
            with reader.open_regular(path) as f:
                self._audit(f, path, checkpoint, out, observer)
        except NotRegularFileError as exc:
            out.status, out.message = AuditStatus.ERROR, f"cannot read: {exc}"
        except OSError as exc:
            out.status, out.message = AuditStatus.ERROR, f"cannot read: {exc.strerror or exc}"
        return out

    def _audit(
        self,
        f: BinaryIO,
        path: Path,
        cp: Checkpoint | None,
        out: FileAudit,
        observer: ReadObserver | None,
    ) -> None:
        st = reader.FileStat.of(os.fstat(f.fileno()))
        try:
            header = reader.read_header(f) or reader.read_header(f, final=True)
            if header is None:
                out.status, out.message = AuditStatus.EMPTY, "no header line: nothing to check"
                return
            layout = sniff_layout(header.text, layout_options(self.settings))
        except UnknownFormatError as exc:
            if cp is not None and not cp.refused:
                # Imported once, unreadable now: the settings differ from the import's
                # (default_account, header_aliases); nothing could be checked, so it fails.
                out.status = AuditStatus.ERROR
                out.message = (
                    f"imported before but refused under these settings ({exc}); run verify "
                    "with the settings the file was imported under"
                )
            else:
                out.status, out.message = AuditStatus.REFUSED, f"not an executions export: {exc}"
            return
        claimed = self._claimed(f, st, header, cp, out)
        # The importer's own evidence: what the checkpoint settled, else what it would.
        reading = self.service.evidence.settle(
            f, path, header, layout, cp, resume=out.checkpoint is CheckpointClaim.OK
        )
        # The zone the file was imported in (its checkpoint says), else the configured one.
        zone = cp.source_timezone if cp is not None and cp.source_timezone else None
        tz = zoneinfo.ZoneInfo(zone) if zone else self.settings.tz
        parser = RowParser(layout, reading.date_order, tz, reading.parse)
        self._start_readings(f, path, (header, layout), cp, out)
        pending: list[tuple[Execution, bool, list[str]]] = []
        last, end = 1, header.data_start
        for chunk in reader.iter_chunks(f, header.data_start, 2, header.encoding, st.size):
            self._rows(chunk, parser, layout, claimed, pending, out)
            last, end = chunk.first + len(chunk.texts) - 1, chunk.end
            if len(pending) >= BATCH_ROWS:
                self._check(pending, out)
                pending = []
            if observer is not None:
                observer.read(chunk.end, st.size)
        tail = reader.tail_after(f, end, st.size)
        text = reader.decode_line(tail, header.encoding).rstrip("\r\n") if tail else ""
        # A last line without its newline counts, as for the importer, once it has all
        # the header's fields; unclaimed, it is still being written.
        if (
            text
            and last + 1 <= claimed
            and len(next(split_lines([text], layout))) == (layout.field_count)
        ):
            self._rows(
                reader.Chunk(last + 1, [text], st.size), parser, layout, claimed, pending, out
            )
        self._check(pending, out)
        out.readings += self._check_readings.as_list() if self._check_readings else []
        if out.missing:
            out.status = AuditStatus.MISSING
        elif out.unrecorded:
            out.status = AuditStatus.UNRECORDED
        elif cp is not None and cp.repair_pending:
            out.status = AuditStatus.REPAIR_PENDING
            out.message = (
                "an import --reread --replace was cut short: the rows after its checkpoint "
                "still hold the old values until the next read finishes it as a replace"
            )
        elif cp is not None and cp.status is CheckpointStatus.REWRITTEN:
            out.status = AuditStatus.REWRITTEN
            out.message = cp.last_error or "rewritten"

    def _start_readings(
        self,
        f: BinaryIO,
        path: Path,
        read: tuple[reader.Header, Layout],
        cp: Checkpoint | None,
        out: FileAudit,
    ) -> None:
        """Set up the independent reading check of a file the checkpoint vouches for, and
        re-derive its date order from the whole file and every evidence (not the stored
        settled order)."""
        self._check_readings = None
        if cp is None or out.checkpoint is not CheckpointClaim.OK:
            return
        header, layout = read
        zone = cp.source_timezone or self.settings.source_timezone
        self._check_readings = ReadingCheck(
            zoneinfo.ZoneInfo(zone), zone, cp.date_order, cp.decimal_mark
        )
        self._fields = {
            n: i for n, i in layout.columns.items() if n in ("time", "price", "commission")
        }
        fresh = self.service.evidence.settle(f, path, header, layout, cp, resume=False)
        if fresh.date_order and cp.date_order and fresh.date_order != cp.date_order:
            out.readings.append(
                {
                    "kind": "date_order_evidence",
                    "message": f"the whole file and its evidence settle date order "
                    f"{fresh.date_order} ({fresh.date_order_source}), the checkpoint "
                    f"says {cp.date_order}",
                    "rows": 0,
                    "lines": [],
                }
            )

    def _claimed(
        self,
        f: BinaryIO,
        st: reader.FileStat,
        header: reader.Header,
        cp: Checkpoint | None,
        out: FileAudit,
    ) -> int:
        """The last line number the journal vouches for, judged as the importer resumes."""
        if cp is None:
            out.checkpoint = CheckpointClaim.NONE
            return UNCLAIMED
        why = resume_point(f, header, st, cp, reread=False).reason
        if why is ResumeReason.NOTHING_READ_YET and not cp.refused:
            out.checkpoint = CheckpointClaim.OK  # a header alone: it vouches for no row yet
            return cp.lines_consumed
        if why is not ResumeReason.RESUME:
            out.checkpoint = CheckpointClaim.CHANGED
            out.message = "the file changed since its checkpoint: the daemon reads it again"
            return 1
        out.checkpoint = CheckpointClaim.OK
        return cp.lines_consumed

    def _rows(
        self,
        chunk: reader.Chunk,
        parser: RowParser,
        layout: Layout,
        claimed: int,
        pending: list[tuple[Execution, bool, list[str]]],
        out: FileAudit,
    ) -> None:
        executions, errors = parse_batch(chunk, parser)
        # The raw fields too, for the independent reading (only when it runs).
        texts = split_lines(chunk.texts, layout) if self._check_readings is not None else None
        fields = {chunk.first + i: f for i, f in enumerate(texts)} if texts is not None else {}
        minutes = TimeTexts(layout, chunk)
        self._to_minute.update(ex.line for ex in executions if minutes.to_minute(ex))
        for ex in executions:
            pending.append((ex, ex.line <= claimed, fields.get(ex.line, [])))
        for err in errors:
            out.rejected += 1
            if err.line > claimed:
                out.unread += 1
            elif (err.line, err.reason, stored_raw(err.raw)) not in self._rejections:
                out.unrecorded.append(
                    {"line": err.line, "reason": err.reason, "detail": err.detail}
                )

    def _check(self, pending: list[tuple[Execution, bool, list[str]]], out: FileAudit) -> None:
        """Look the executions' IDs up in the ledger and trades, a thousand at a time."""
        out.executions += len(pending)
        for i in range(0, len(pending), LOOKUP_IDS):
            part = pending[i : i + LOOKUP_IDS]
            ids = sorted({ex.execution_id for ex, _, _ in part})
            stored = {r.execution_id: r for r in self.conn.execute(self._lookup, {"ids": ids})}
            if self._horizon is not None and len(stored) < len(ids):
                rest = [i for i in ids if i not in stored]
                stored.update(
                    (r.execution_id, r) for r in self.conn.execute(self._trades, {"ids": rest})
                )
            for ex, claimed, raw in part:
                row = stored.get(ex.execution_id)
                if row is None:
                    if self._horizon is not None and ex.executed_at < self._horizon:
                        out.before_horizon += 1
                    elif ex.execution_id in self._held_back:
                        out.rejected += 1
                    elif claimed:
                        out.missing.append({"line": ex.line, "execution_id": ex.execution_id})
                    else:
                        out.unread += 1
                    continue
                out.present += 1
                if row.trade_id is None:
                    out.deleted += 1
                    continue
                out.stored(row.account, row.contract, row.executed_at)
                if raw and self._check_readings is not None:
                    self._reading(ex.line, raw, row)
                if tuple(row[2:_COMPARED_END]) != _conflict_values(ex):  # mostly equal, in C
                    self._compare(ex, row, out)
        self._to_minute.clear()

    def _compare(self, ex: Execution, row: Any, out: FileAudit) -> None:
        """A stored trade that differs from the file's row: a conflict, unless only in time
        and within the minute one of them was written to."""
        coarse = ex.line in self._to_minute and within(ex.executed_at, row.executed_at)
        compared = [k for k in CONFLICT_FIELDS if not (coarse and k == "executed_at")]
        diff = [k for k in compared if getattr(row, k) != getattr(ex, k)]
        if diff == ["executed_at"] and _finer(ex.executed_at, row):
            out.finer.append({"line": ex.line, "execution_id": ex.execution_id})
        elif diff:
            conflict = {"line": ex.line, "execution_id": ex.execution_id, "fields": diff}
            recorded = ex.execution_id in self._conflicts
            out.conflicts.append({**conflict, "recorded": recorded})

    def _reading(self, line: int, raw: list[str], row: Any) -> None:
        """The stored trade against the row's raw time, price and commission texts."""
        assert self._check_readings is not None
        at = {n: raw[i] for n, i in self._fields.items() if i < len(raw)}
        prices = {n: at[n] for n in ("price", "commission") if at.get(n, "").strip()}
        if str(row.commission_source).startswith("schedule"):
            prices.pop("commission", None)  # the commissions setting's, not the file's text
        self._check_readings.row(line, at.get("time"), prices, row)


_conflict_values = operator.attrgetter(*CONFLICT_FIELDS)
_COMPARED_END = 2 + len(CONFLICT_FIELDS)  # a looked-up row: two IDs, then these fields


def _finer(exact: datetime, row: Any) -> bool:
    """The stored time is this exact time's whole minute, written by a re-save."""
    stored: datetime = row.executed_at
    return (
        bool(row.time_precision == MINUTE_ONLY) and exact.replace(second=0, microsecond=0) == stored
    )
