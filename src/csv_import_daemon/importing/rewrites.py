"""A file without IDs saved over with content that no longer holds what was read from it.

With an ID column, a row edited in place keeps its ID: a conflict, reported. Without one, an
edited fill (another price, quantity, side or minute) has a new stand-in and would be a new
execution beside the old one: counted twice. So when a file without IDs that was read
before comes back as another version (rewritten, shorter, or saved over by a new file of
the same name) and a fill read from it before is gone, the rows that may be those fills
edited are held back: a new fill of an (account, instrument) that lost one, no later than
the latest fill read from the file before. They are rejected as ``rewritten`` and the
checkpoint says ``rewritten`` (``status`` and ``verify`` report it). Rows that only add to
what was read (an export of a longer range, a re-save) are imported as usual; so is
everything under ``import --reread``, which a user runs to take the file as it is now.
"""

from __future__ import annotations

from datetime import datetime
from typing import BinaryIO

from sqlalchemy import Connection, bindparam, select

from csv_import_daemon.db.tables import LEDGER, TRADES
from csv_import_daemon.files import reader
from csv_import_daemon.importing.identity import ResumeReason
from csv_import_daemon.importing.plan import HeldBack, ReadPlan
from csv_import_daemon.parsing.execution import Execution, RowError
from csv_import_daemon.parsing.row_parser import RowParser, split_lines

# The reasons a file read before is read from the start as another version of itself.
_NEW_VERSION = (ResumeReason.REWRITTEN, ResumeReason.SHORTER, ResumeReason.ANOTHER_FILE)
_LOOKUP_IDS = 1000
_KNOWN = select(LEDGER.c.execution_id).where(
    LEDGER.c.execution_id.in_(bindparam("ids", expanding=True))
)
# The trades a file gave (stored first from it): an index lookup (revision 0016).
GAVE = select(
    TRADES.c.execution_id, TRADES.c.account, TRADES.c.instrument, TRADES.c.executed_at
).where(TRADES.c.source_file == bindparam("key"))


def held_back(conn: Connection, f: BinaryIO, plan: ReadPlan, parser: RowParser) -> HeldBack | None:
    """What of this version of a file without IDs must not be stored, or None.

    ``parser`` is a fresh parser for the file (its stand-ins are counted here whole).
    """
    prior = plan.prior
    if (
        plan.layout.has_id
        or prior is None
        or prior.refused
        or plan.resume.reason not in _NEW_VERSION
    ):
        return None
    before = {row.execution_id: row for row in conn.execute(GAVE, {"key": plan.key})}
    if not before:
        return None
    now = _executions(f, plan, parser)
    gone = [row for eid, row in before.items() if eid not in now]
    if not gone:
        return None
    latest: datetime = max(row.executed_at for row in before.values())
    lost = {(row.account, row.instrument) for row in gone}
    suspects = sorted(
        eid
        for eid, ex in now.items()
        if eid not in before and (ex.account, ex.instrument) in lost and ex.executed_at <= latest
    )
    known: set[str] = set()
    for i in range(0, len(suspects), _LOOKUP_IDS):
        known.update(conn.scalars(_KNOWN, {"ids": suspects[i : i + _LOOKUP_IDS]}))
    held = frozenset(suspects) - known
    return HeldBack(held, len(gone)) if held else None


def _executions(f: BinaryIO, plan: ReadPlan, parser: RowParser) -> dict[str, Execution]:
    """The file's executions now, by stand-in (a complete last line counts if final)."""
    header, layout = plan.header, plan.layout
    found: dict[str, Execution] = {}
    end = plan.stat.size
    last = header.data_start
    for chunk in reader.iter_chunks(f, header.data_start, 2, header.encoding, end):
        for i, fields in enumerate(split_lines(chunk.texts, layout)):
            ex = parser.parse(fields, chunk.first + i, chunk.texts[i])
            if isinstance(ex, Execution):
                found[ex.execution_id] = ex
        last = chunk.end
    tail = reader.tail_after(f, last, end)
    if tail and plan.final_line_ok:
        text = reader.decode_line(tail, header.encoding).rstrip("\r\n")
        fields = next(split_lines([text], layout), [])
        if len(fields) == layout.field_count:
            ex = parser.parse(fields, 0, text)
            if isinstance(ex, Execution):
                found[ex.execution_id] = ex
    return found


def hold_back(
    held: HeldBack, executions: list[Execution], errors: list[RowError], batch: reader.Chunk
) -> tuple[list[Execution], dict[int, str]]:
    """Rows of a file saved over that may be fills read before, edited: rejected (their
    stand-ins by line, recorded with the rejections for ``verify``)."""
    kept, ids = [], {}
    for ex in executions:
        if ex.execution_id in held.ids:
            raw = batch.texts[ex.line - batch.first]
            errors.append(RowError(ex.line, raw, "rewritten", held.detail(ex.execution_id)))
            ids[ex.line] = ex.execution_id
        else:
            kept.append(ex)
    return kept, ids
