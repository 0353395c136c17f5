"""Byte-exact incremental reading of one CSV file: identity, encoding, complete lines only.

Offsets always point just after a newline (or at a settled final line's end), never into a
line, so a checkpoint can be trusted by the next reader whatever happened in between.
"""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

from csv_import_daemon.errors import FileReadError, NotRegularFileError, UnknownFormatError

# The bytes kept just before a chunk's end, for the checkpoint's tail hash (identity.py).
TAIL_BYTES = 1024
BLOCK_BYTES = 1 << 20
# A longer line cannot be an execution; it is rejected without holding it all in memory.
MAX_LINE_BYTES = 1 << 20
HEADER_MAX_BYTES = 64 * 1024

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
_NEWLINES = {"utf-8": b"\n", "utf-16-le": b"\n\x00", "utf-16-be": b"\x00\n"}


class FileStat(NamedTuple):
    """One version of a file, as ``os.stat`` tells it: the one file-version type (the
    checkpoint stores it, known files and the importer thread compare it). A tuple, so a
    rescan compares it with ``os.stat``'s fields without building one."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    # The inode's change time: no program can set it (``touch -r`` and ``cp -p`` set the
    # mtime back, not this). 0 where unknown (a checkpoint saved before it was kept).
    ctime_ns: int = 0

    @classmethod
    def of(cls, st: os.stat_result) -> FileStat:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    @classmethod
    def at(cls, path: str | os.PathLike[str]) -> FileStat | None:
        """The version of the file at ``path`` now; None when it cannot be stat'ed."""
        try:
            return cls.of(os.stat(path))
        except OSError:
            return None


@dataclass(frozen=True, slots=True)
class Header:
    """The header line, where the data starts and how the file is encoded."""

    text: str
    data_start: int  # byte offset just after the header line's newline
    encoding: str


@dataclass(slots=True)
class Chunk:
    """Consecutive complete lines: ``texts[i]`` is line ``first + i`` of the file."""

    first: int  # 1-based line number of texts[0] (the header is line 1)
    texts: list[str]
    end: int  # byte offset just after the last line's newline
    too_long: frozenset[int] = frozenset()  # indexes of lines cut to their first bytes
    # The raw bytes just before ``end`` as they were read (at most TAIL_BYTES): the
    # checkpoint hashes these, not the file again, which may have been rewritten since.
    tail: bytes = b""


_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """``path`` opened for binary reading if it is a regular file; NotRegularFileError if not.

    Opened with O_NONBLOCK, so a FIFO named ``x.csv`` (or a link to one, or to a device)
    never blocks the open waiting for a writer; ``fstat`` on the descriptor then decides,
    with no race against a rename. OSError as ``open`` raises it otherwise.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a file")
            raise NotRegularFileError(f"{kind}, not a regular file: only regular files are read")
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def newline_of(encoding: str) -> bytes:
    return _NEWLINES[encoding]


def decode_line(raw: bytes, encoding: str) -> str:
    """UTF-8, else Windows-1252 (accented account names from older exporters)."""
    if encoding != "utf-8":
        return raw.decode(encoding, errors="replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def read_header(f: BinaryIO, final: bool = False) -> Header | None:
    """The first non-blank line; None while it has no newline yet (still being written).

    ``final`` (the file has been quiet for the settle period): a first line that never got
    its newline is returned as it is, so that megabytes without a line break or a file of
    NUL bytes are refused with a reason rather than awaited forever. A first line with no
    newline in its first HEADER_MAX_BYTES is UnknownFormatError at once, final or not.
    """
    f.seek(0)
    head = f.read(HEADER_MAX_BYTES)
    encoding, bom = "utf-8", 0
    for mark, name in _BOMS:
        if head.startswith(mark):
            encoding, bom = name, len(mark)
            break
    nl = newline_of(encoding)
    pos = bom
    while True:
        end = _find_newline(head, nl, pos)
        if end < 0:
            if len(head) >= HEADER_MAX_BYTES:
                # Its newline, if it ever comes, is past what is read: waiting for it
                # would wait for ever. No export's header is anywhere near this long.
                raise UnknownFormatError(
                    f"the header line is longer than {HEADER_MAX_BYTES // 1024} KB "
                    f"({HEADER_MAX_BYTES} bytes): not an executions export"
                )
            if not final or pos >= len(head):
                return None
            text = decode_line(head[pos:], encoding).strip("\r\n\t \x00")
            return Header(text=text, data_start=len(head), encoding=encoding)
        text = decode_line(head[pos:end], encoding).strip("\r\n\t \x00")
        if text:
            return Header(text=text, data_start=end + len(nl), encoding=encoding)
        pos = end + len(nl)


def _find_newline(buf: bytes, nl: bytes, start: int) -> int:
    """Index of the next newline at or after start, aligned to the encoding's code units."""
    step = len(nl)
    pos = buf.find(nl, start)
    while step == 2 and pos >= 0 and (pos - start) % 2:
        pos = buf.find(nl, pos + 1)
    return pos


def iter_chunks(
    f: BinaryIO, start: int, first_number: int, encoding: str, size: int
) -> Iterator[Chunk]:
    """Complete lines from ``start`` up to ``size``, a block at a time.

    A last line without newline is not yielded. Memory stays flat whatever the file size
    or line length: a line longer than MAX_LINE_BYTES is kept only by its first bytes.
    Splitting and decoding whole blocks keeps the per-line cost in C.
    """
    nl = newline_of(encoding)
    step = len(nl)
    fd = f.fileno()
    read_at = start  # positional reads: callers may use the file between our yields
    pos = start  # file offset of buf[0]
    number = first_number
    carry = b""
    long_head: bytes | None = None  # inside an over-long line: its first bytes
    window = b""  # the last bytes read up to pos, contiguous
    remaining = size - start
    before = b""  # the last bytes of the previous block, as read
    while remaining > 0:
        block = os.pread(fd, min(BLOCK_BYTES, remaining), read_at)
        if not block:
            return  # the file shrank under us; the caller re-checks identity next time
        _unchanged(fd, before, read_at)
        before = block[-TAIL_BYTES:]
        remaining -= len(block)
        read_at += len(block)
        buf = carry + block
        last = _rfind_newline(buf, nl)
        if last < 0:
            carry = buf
        else:
            complete, carry = buf[:last], buf[last + step :]
            raws = _split(complete, nl)
            cut: set[int] = set()
            if long_head is not None:
                raws[0], long_head = long_head, None
                cut.add(0)
            if max(map(len, raws)) > MAX_LINE_BYTES:
                for i, raw in enumerate(raws):
                    if len(raw) > MAX_LINE_BYTES:
                        raws[i] = raw[:200]
                        cut.add(i)
            seen = buf[max(0, last + step - TAIL_BYTES) : last + step]
            window = seen if len(seen) == TAIL_BYTES else (window + seen)[-TAIL_BYTES:]
            yield Chunk(
                number, _decode_lines(raws, encoding), pos + last + step, frozenset(cut), window
            )
            number += len(raws)
            pos += last + step
        if len(carry) > MAX_LINE_BYTES:
            if long_head is None:
                long_head = carry[:200]
            pos += len(carry)
            carry, window = b"", b""


def _unchanged(fd: int, before: bytes, end: int) -> None:
    """The bytes just before ``end`` are still ``before``, checked after the next block was
    read: a file rewritten in place between two blocks would otherwise join the old
    content's last line to the new content's bytes, a line that never existed."""
    if before and os.pread(fd, len(before), end - len(before)) != before:
        raise FileReadError("the file was rewritten while being read; it is read again")


def _rfind_newline(buf: bytes, nl: bytes) -> int:
    pos = buf.rfind(nl)
    while len(nl) == 2 and pos > 0 and pos % 2:
        pos = buf.rfind(nl, 0, pos)
    return pos


def _split(data: bytes, nl: bytes) -> list[bytes]:
    if len(nl) == 1:
        return data.split(nl)
    text = data.decode("utf-16-le" if nl == b"\n\x00" else "utf-16-be", "replace")
    enc = "utf-16-le" if nl == b"\n\x00" else "utf-16-be"
    return [part.encode(enc) for part in text.split("\n")]


def _decode_lines(raws: list[bytes], encoding: str) -> list[str]:
    if encoding == "utf-8":
        try:
            text = b"\n".join(raws).decode("utf-8")
        except UnicodeDecodeError:
            return [decode_line(raw, encoding).rstrip("\r") for raw in raws]
    else:
        text = "\n".join(raw.decode(encoding, "replace") for raw in raws)
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    return text.split("\n")


def tail_after(f: BinaryIO, start: int, size: int) -> bytes:
    """The bytes after the last complete line (a partial last line), at most a few MB."""
    f.seek(start)
    return f.read(max(0, min(size - start, MAX_LINE_BYTES + 1)))
