"""A row whose execution ID is already stored: a duplicate, a conflict, or an exact time.

Compared field by field (``CONFLICT_FIELDS``): the same content is a duplicate, other
content a conflict (the stored row wins). One exception, times written without seconds: a
spreadsheet's re-save writes 13:10 for 13:10:38, exact only to its minute, whichever file
is read first. Read after the exact time, it is a duplicate (the stored seconds stay).
Stored first, its trade is marked (``trades.time_precision``) and the exact time of the
same fill replaces it when it comes, kept as a correction (``db.corrections.exact_times``),
never a second fill. Only a time whose text has no seconds field matches within its
minute: ``13:10:00`` written with seconds is compared exactly, and so is a whole minute
stored before revision 0015 (not known to have been written without seconds). Only the
rows concerned are split again to see their time text: nothing is added per row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from csv_import_daemon.db.corrections import MINUTE_ONLY, set_time_precision, time_precisions
from csv_import_daemon.db.writer import CONFLICT_FIELDS
from csv_import_daemon.files import reader
from csv_import_daemon.parsing.fields import written_to_minute
from csv_import_daemon.parsing.layout import Layout, split_lines
from csv_import_daemon.parsing.row_parser import Execution, RowError

# A pair: the row read, and the stored trade (or the batch's first reading) it repeats.
Pair = tuple[Execution, dict[str, Any]]


def _whole(t: datetime) -> bool:
    return t.second == t.microsecond == 0


def _minute(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)


def within(minute: datetime, stored: datetime) -> bool:
    """``stored`` lies in the ``minute`` a time written without seconds gives."""
    return _minute(stored) == minute


class TimeTexts:
    """The time texts of one batch's rows, split again only where one is asked for."""

    def __init__(self, layout: Layout, batch: reader.Chunk) -> None:
        self._layout = layout
        self._batch = batch
        self._column = layout.columns["time"]

    def to_minute(self, ex: Execution) -> bool:
        """Its time was written without seconds (only a whole minute can have been)."""
        if not _whole(ex.executed_at):
            return False
        raw = self._batch.texts[ex.line - self._batch.first]
        fields = next(split_lines([raw], self._layout))
        return written_to_minute(fields[self._column])


def mark_stored(conn: Connection, texts: TimeTexts, inserted: Iterable[Execution]) -> None:
    """Trades just inserted from times written without seconds are marked so."""
    # (59 in 60 rows of an export fail the first test, in C: no call per row)
    ids = [ex.execution_id for ex in inserted if not ex.executed_at.second and texts.to_minute(ex)]
    if ids:
        set_time_precision(conn, ids, MINUTE_ONLY)


def confirm_exact(conn: Connection, texts: TimeTexts, equal: Iterable[Execution]) -> None:
    """A time written with seconds that equals its stored whole minute makes it exact."""
    ids = [
        ex.execution_id
        for ex in equal
        if not ex.executed_at.second and _whole(ex.executed_at) and not texts.to_minute(ex)
    ]
    if ids:
        set_time_precision(conn, ids, None)


def within_minute(
    conn: Connection, texts: TimeTexts, pairs: Sequence[Pair], first: dict[str, Execution]
) -> tuple[set[int], list[tuple[Execution, datetime]]]:
    """Of rows whose only difference from the stored trade is the time, within one minute:
    the lines that are duplicates, and the rows whose exact time replaces a stored whole
    minute (with that minute). The others are conflicts. ``first``: the batch's first
    reading of a repeated ID, when it is what the row is compared with."""
    same: set[int] = set()
    finer: list[Pair] = []
    for ex, theirs in pairs:
        new, old = ex.executed_at, theirs["executed_at"]
        if texts.to_minute(ex):
            if within(new, old):  # the stored time is as exact or more
                same.add(ex.line)
        elif _whole(old) and _minute(new) == old:
            finer.append((ex, theirs))
    if not finer:
        return same, []
    stored = time_precisions(
        conn, [ex.execution_id for ex, _ in finer if ex.execution_id not in first]
    )
    exact: list[tuple[Execution, datetime]] = []
    for ex, theirs in finer:
        reading = first.get(ex.execution_id)
        to_minute = (
            texts.to_minute(reading) if reading else stored.get(ex.execution_id) == MINUTE_ONLY
        )
        if to_minute:
            exact.append((ex, theirs["executed_at"]))
    return same, exact


def keep_stored_seconds(
    texts: TimeTexts, executions: list[Execution], stored: dict[str, Any]
) -> list[Execution]:
    """A repair's rows, where a time written without seconds keeps the stored exact time
    within its minute: ``--replace`` takes the file's reading, never a lost second."""
    kept = []
    for ex in executions:
        theirs = stored.get(ex.execution_id)
        if (
            theirs is not None
            and theirs["executed_at"] != ex.executed_at
            and _minute(theirs["executed_at"]) == ex.executed_at
            and texts.to_minute(ex)
        ):
            ex = dataclasses.replace(ex, executed_at=theirs["executed_at"])  # noqa: PLW2901
        kept.append(ex)
    return kept


def replaced(
    conn: Connection, texts: TimeTexts, executions: Sequence[Execution], stored: Any
) -> None:
    """A repair's replaced trades hold its times: as exact as their texts were written.
    A whole minute written without seconds that is the stored time changes nothing: a
    13:10:00 read with its seconds stays exact (``stored``: the rows before the repair
    whose compared fields differ)."""
    to_minute: list[str] = []
    exact: list[str] = []
    for ex in executions:
        if not texts.to_minute(ex):
            exact.append(ex.execution_id)
            continue
        # ``stored`` holds the rows whose compared fields differ: a row not in it (its
        # commission or name replaced) kept its time, and so its precision.
        theirs = stored.get(ex.execution_id)
        if theirs is not None and theirs["executed_at"] != ex.executed_at:
            to_minute.append(ex.execution_id)
    for ids, precision in ((to_minute, MINUTE_ONLY), (exact, None)):
        if ids:
            set_time_precision(conn, ids, precision)


def differing(ex: Execution, theirs: dict[str, Any]) -> list[str]:
    return [k for k in CONFLICT_FIELDS if theirs[k] != getattr(ex, k)]


def conflict(ex: Execution, theirs: dict[str, Any], batch: reader.Chunk) -> RowError | None:
    """A conflict error when the stored row differs from ``ex``; None for a duplicate.

    (Times within one minute, one written without seconds: ``within_minute`` first.)"""
    diff = differing(ex, theirs)
    if not diff:
        return None
    detail = "; ".join(f"{k}: stored {theirs[k]!s}, new {getattr(ex, k)!s}" for k in diff)
    return RowError(
        ex.line,
        batch.texts[ex.line - batch.first],
        "conflict",
        f"execution ID {ex.execution_id} already stored with other content; "
        f"the stored row wins ({detail})",
    )


def as_stored(ex: Execution) -> dict[str, Any]:
    return {k: getattr(ex, k) for k in CONFLICT_FIELDS}
