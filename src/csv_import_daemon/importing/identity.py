"""File identity and resume: may reading continue where the checkpoint stopped?

Only when the open file is still the one the checkpoint read: same device and inode, not
shorter than the offset, and the same bytes at the two places the checkpoint hashed (the
first bytes after the header, and the bytes just before the offset). Anything else is read
from the start; the ledger makes that safe, the hashes make resuming safe.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from enum import StrEnum
from typing import BinaryIO

from csv_import_daemon.files import reader
from csv_import_daemon.files.reader import FileStat, Header
from csv_import_daemon.importing.checkpoint import Checkpoint

# Every export shares its header line, so identity hashes this many bytes after it.
HEAD_BYTES = 1024


class ResumeReason(StrEnum):
    """Why reading starts where it does: resumed at the checkpoint, or why from the start."""

    RESUME = "resume"
    NEW_FILE = "new file"
    REREAD = "reread requested"
    REFUSED_BEFORE = "refused before"
    NOTHING_READ_YET = "nothing read yet"  # only the header was read
    ANOTHER_FILE = "another file under this name"
    SHORTER = "shorter than the checkpoint"
    REWRITTEN = "rewritten"


@dataclass(frozen=True, slots=True)
class Resume:
    """Where reading starts: ``start`` is a byte offset, ``first_line`` its line number."""

    start: int
    first_line: int
    # A final line was settled before its newline came: what follows up to the newline is
    # the rest of that line and keeps its number.
    unterminated: bool
    date_order: str | None  # the order the checkpoint settled, when resuming
    reason: ResumeReason

    @property
    def resumed(self) -> bool:
        return self.reason is ResumeReason.RESUME


def head_hash(f: BinaryIO, data_start: int, length: int, tail: bytes | None = None) -> str:
    """``LEN:HASH`` of the first LEN bytes after the header; LEN is stored to re-check later.

    With ``tail`` (the bytes just before the checkpoint's offset, as they were read)
    ``:TLEN-HASH`` follows: an export saved again over the same file with the same first
    rows but other lines before the offset must be read from the start, not resumed
    mid-line.
    """
    f.seek(data_start)
    data = f.read(length)
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    if tail is None:
        return f"{len(data)}:{digest}"
    tail_digest = hashlib.blake2b(tail, digest_size=8).hexdigest()
    return f"{len(data)}:{digest}:{len(tail)}-{tail_digest}"


def checkpoint_hash(f: BinaryIO, header: Header, offset: int, tail: bytes) -> str:
    """The hash a checkpoint at ``offset`` stores, from the bytes actually read."""
    return head_hash(f, header.data_start, min(HEAD_BYTES, offset - header.data_start), tail)


def head_matches(f: BinaryIO, data_start: int, stored: str | None, end: int) -> bool:
    """The file still holds what the checkpoint saw: its head, and the bytes before the
    offset ``end`` when the checkpoint has a tail hash (older ones have none)."""
    if not stored or ":" not in stored:
        return False
    parts = stored.split(":")
    tail = None
    if len(parts) == 3:
        length_text = parts[2].partition("-")[0]
        if not length_text.isdigit() or int(length_text) > end - data_start:
            return False
        tail = os.pread(f.fileno(), int(length_text), end - int(length_text))
    return head_hash(f, data_start, int(parts[0]), tail) == stored


def _from_start(header: Header, reason: ResumeReason) -> Resume:
    return Resume(header.data_start, 2, unterminated=False, date_order=None, reason=reason)


def _why_not(f: BinaryIO, header: Header, st: FileStat, prior: Checkpoint) -> ResumeReason | None:
    """None when ``prior`` may be resumed, else the reason it may not."""
    if prior.refused:
        return ResumeReason.REFUSED_BEFORE
    # Nothing but the header read: start at this header's end, which differs for a new
    # file that reuses the inode (a CRLF header is a byte longer).
    if prior.lines_consumed <= 1:
        return ResumeReason.NOTHING_READ_YET
    if (prior.stat.device, prior.stat.inode) != (st.device, st.inode):
        return ResumeReason.ANOTHER_FILE
    if not header.data_start <= prior.offset <= st.size:
        return ResumeReason.SHORTER
    if not head_matches(f, header.data_start, prior.head_hash, prior.offset):
        return ResumeReason.REWRITTEN
    return None


def resume_point(
    f: BinaryIO, header: Header, st: FileStat, prior: Checkpoint | None, *, reread: bool
) -> Resume:
    """Where to read ``f`` from, given its prior checkpoint (or that it starts afresh)."""
    if prior is None:
        return _from_start(header, ResumeReason.NEW_FILE)
    if reread:
        return _from_start(header, ResumeReason.REREAD)
    why = _why_not(f, header, st, prior)
    if why is not None:
        return _from_start(header, why)
    nl = reader.newline_of(header.encoding)
    start = prior.offset
    unterminated = start > header.data_start and reader.tail_after(f, start - len(nl), start) != nl
    return Resume(
        start, prior.lines_consumed + 1, unterminated, prior.date_order, ResumeReason.RESUME
    )
