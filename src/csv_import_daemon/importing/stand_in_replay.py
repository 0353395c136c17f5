"""A file without IDs read on from a checkpoint: its stand-ins' counts, replayed.

A stand-in counts the earlier fills of the same meaning in its file (``parsing.stand_ins``),
so before reading on from a checkpoint the rows before it are parsed again, not imported.
"""

from __future__ import annotations

from typing import BinaryIO

from csv_import_daemon.files import reader
from csv_import_daemon.importing.plan import ReadPlan
from csv_import_daemon.parsing.row_parser import RowParser, split_lines


def replay_stand_ins(f: BinaryIO, plan: ReadPlan, parser: RowParser, *, legacy: bool) -> None:
    """Ready ``parser`` to read on at the plan's start. ``legacy``: the journal still holds
    stand-ins of 0.2.0, so each row's old one is collected too (``db.legacy_ids``)."""
    parser.stand_ins.legacy = {} if legacy else None
    header, layout = plan.header, plan.layout
    if plan.start <= header.data_start:
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
