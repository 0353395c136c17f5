"""``open_regular``: only regular files are opened, and opening never blocks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from csv_import_daemon.errors import NotRegularFileError
from csv_import_daemon.files.reader import open_regular


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
