"""A file without IDs read on from a checkpoint: its stand-ins' counts, replayed.

A stand-in counts the earlier fills of the same meaning in its file (``parsing.stand_ins``),
so before reading on from a checkpoint the rows before it are parsed again, not imported.
Except where this service itself read the file up to exactly that checkpoint: then the
counts its parser ended with are kept (``KeptCounts``, in memory), so an append costs its
new lines, not the file's (an append after a restart replays once).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import BinaryIO

from csv_import_daemon.files import reader
from csv_import_daemon.importing.checkpoint import Checkpoint
from csv_import_daemon.importing.plan import ReadPlan
from csv_import_daemon.parsing.row_parser import RowParser, split_lines

_KEPT_FILES = 64  # the files appended to now: today's, a few accounts' or machines'

Counts = tuple[dict[str, int], dict[str, int] | None]


def _at(cp: Checkpoint) -> tuple[object, ...]:
    """Where a checkpoint stands: the same file, read to the same line and bytes."""
    return (cp.stat.device, cp.stat.inode, cp.offset, cp.lines_consumed, cp.head_hash)


class KeptCounts:
    """The stand-in counts a parser ended with, by file, valid only at the checkpoint it
    committed: a file read by anyone else since, rolled back, or rewritten is replayed."""

    def __init__(self) -> None:
        self._files: OrderedDict[str, tuple[tuple[object, ...], Counts]] = OrderedDict()

    def keep(self, plan: ReadPlan, parser: RowParser, last: Checkpoint | None) -> None:
        if last is not None and not plan.layout.has_id:
            self._files[plan.key] = (_at(last), parser.stand_ins.counts())
            self._files.move_to_end(plan.key)
            if len(self._files) > _KEPT_FILES:
                self._files.popitem(last=False)

    def take(self, plan: ReadPlan, *, legacy: bool) -> Counts | None:
        """The counts up to the plan's start, when this service's parser ended there."""
        kept = self._files.pop(plan.key, None)  # kept again only once read on
        prior = plan.prior
        if kept is None or prior is None or plan.resume.unterminated:
            return None
        at, counts = kept
        if at != _at(prior) or plan.start != prior.offset or (legacy and counts[1] is None):
            return None
        return counts


def replay_stand_ins(
    f: BinaryIO, plan: ReadPlan, parser: RowParser, *, legacy: bool, kept: KeptCounts
) -> None:
    """Ready ``parser`` to read on at the plan's start. ``legacy``: the journal still holds
    stand-ins of 0.2.0, so each row's old one is collected too (``db.legacy_ids``)."""
    parser.stand_ins.legacy = {} if legacy else None
    header, layout = plan.header, plan.layout
    if plan.start <= header.data_start:
        return
    counts = kept.take(plan, legacy=legacy) if plan.resume.resumed else None
    if counts is not None:
        parser.stand_ins.resume(counts)
        return
    replayed = header.data_start
    for chunk in reader.iter_chunks(f, header.data_start, 2, header.encoding, plan.start):
        for i, fields in enumerate(split_lines(chunk.texts, layout)):
            parser.parse(fields, chunk.first + i, chunk.texts[i])
        replayed = chunk.end
        if parser.stand_ins.legacy:  # those rows are not written again
            parser.stand_ins.legacy.clear()
    if plan.resume.unterminated:  # the settled final line counts too
        raw = reader.tail_after(f, replayed, plan.start)
        text = reader.decode_line(raw, header.encoding).rstrip("\r")
        parser.parse(next(split_lines([text], layout), []), plan.first_line - 1, text)
    if parser.stand_ins.legacy:
        parser.stand_ins.legacy.clear()
