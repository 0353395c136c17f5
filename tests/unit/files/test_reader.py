"""``open_regular``: only regular files are opened, and opening never blocks; a file
rewritten in place while it is being read is never read as one; a header over the limit
is refused."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db.tables import REJECTIONS
from csv_import_daemon.errors import FileReadError, NotRegularFileError, UnknownFormatError
from csv_import_daemon.files import reader
from csv_import_daemon.files.reader import HEADER_MAX_BYTES, open_regular, read_header
from csv_import_daemon.importing.result import ImportStatus
from csv_import_daemon.importing.service import ImportService
from support.rows import ExecutionGenerator, write_export


def test_regular_file_opens_blocking_and_reads(tmp_path: Path) -> None:
    """A regular file (and a link to one) opens for reading, in blocking mode."""
    path = tmp_path / "a.csv"
    path.write_bytes(b"x\n")
    (tmp_path / "link.csv").symlink_to(path)
    for target in (path, tmp_path / "link.csv"):
        with open_regular(target) as f:
            assert f.read() == b"x\n"
            assert os.get_blocking(f.fileno())


@pytest.mark.timeout(30)
def test_fifo_device_and_folder_are_refused_without_blocking(tmp_path: Path) -> None:
    """A FIFO with no writer (a plain open would wait for ever), a link to it, a character
    device and a folder: NotRegularFileError naming what it is, at once."""
    fifo = tmp_path / "x.csv"
    os.mkfifo(fifo)
    (tmp_path / "to-fifo.csv").symlink_to(fifo)
    cases = {
        fifo: "a FIFO",
        tmp_path / "to-fifo.csv": "a FIFO",
        Path("/dev/null"): "a character device",
        tmp_path: "a folder",
    }
    for path, kind in cases.items():
        with pytest.raises(NotRegularFileError, match=f"^{kind}, not a regular file"):
            open_regular(path)
    with pytest.raises(FileNotFoundError):
        open_regular(tmp_path / "missing.csv")


ROWS = 20_000  # about 3 MB: several reader blocks


def _rewrite_in_place(path: Path, seed: int) -> None:
    """Overwrite ``path`` through its own inode (truncate, then write), as an editor's
    save-in-place or an exporter writing the same name again does."""
    other = path.with_suffix(".other")
    write_export(other, ExecutionGenerator(seed=seed), ROWS)
    with open(path, "r+b") as f:
        f.truncate(0)
        f.write(other.read_bytes())


def test_a_file_rewritten_between_two_blocks_is_not_read_as_one(tmp_path: Path) -> None:
    """The first block's lines come from the old content; the rewrite is found when the
    next block is read, instead of joining the old last line to new bytes."""
    path = tmp_path / "export.csv"
    size = write_export(path, ExecutionGenerator(seed=1), ROWS)
    assert size > 2 * reader.BLOCK_BYTES
    with open(path, "rb") as f:
        header = reader.read_header(f)
        assert header is not None
        chunks = reader.iter_chunks(f, header.data_start, 2, "utf-8", size)
        next(chunks)
        _rewrite_in_place(path, seed=2)
        with pytest.raises(FileReadError, match="rewritten while being read"):
            list(chunks)


def test_an_import_meeting_a_rewrite_records_no_line_that_never_existed(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Rewritten in place after the first committed batch: no rejection is recorded (every
    line read is a line of one of the two contents), and the next read goes on cleanly."""
    path = tmp_path / "export.csv"
    write_export(path, ExecutionGenerator(seed=1), ROWS)
    service = ImportService(engine, dataclasses.replace(settings, batch_size=1000))
    rewritten: list[int] = []

    class RewriteOnce:
        def committed(self, offset: int, size: int) -> None:
            if not rewritten:
                rewritten.append(offset)
                _rewrite_in_place(path, seed=2)

    first = service.import_file(path, final_line_ok=True, observer=RewriteOnce())
    assert rewritten
    assert first.status == ImportStatus.ERROR, first
    assert first.rejected == 0
    again = service.import_file(path, final_line_ok=True)
    assert again.rejected == 0, again
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(REJECTIONS)) == 0


def test_header_over_the_limit_is_refused_not_awaited(tmp_path: Path) -> None:
    """A first line with no newline in its first 64 KB, whether its newline comes later or
    never: UnknownFormatError saying so, final or not (it was awaited for ever)."""
    names = ",".join(f"Column{i}" for i in range(HEADER_MAX_BYTES // 8))
    for text in ("Instrument,Action," + names, "Instrument,Action," + names + "\nrow\n"):
        path = tmp_path / "wide.csv"
        path.write_text(text, encoding="ascii")
        for final in (False, True):
            with open_regular(path) as f, pytest.raises(UnknownFormatError, match="64 KB"):
                read_header(f, final=final)
    path.write_text("Instrument,Action\n", encoding="ascii")
    with open_regular(path) as f:
        header = read_header(f)
    assert header is not None
    assert header.text == "Instrument,Action"
