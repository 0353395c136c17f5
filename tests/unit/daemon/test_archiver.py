"""Archiving: which files are due, where they go, and that a move is never a re-import."""

from __future__ import annotations

import dataclasses
import errno
import os
import shutil
import signal
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from structlog.testing import capture_logs

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.daemon.archiver import (
    Archiver,
    month_folders,
    move_no_replace,
)
from csv_import_daemon.files.names import date_from_name
from csv_import_daemon.importing.result import ImportResult, ImportStatus
from csv_import_daemon.importing.service import ImportService
from support.paths import SAMPLES

DATED = "NinjaTrader_Executions_20251031.csv"
NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2025, 11, 3, 12, 0, tzinfo=NEW_YORK).timestamp()  # a Monday noon


class FakeWatches:
    """Records the folders the archiver asks to watch."""

    def __init__(self) -> None:
        self.folders: list[Path] = []

    def watch(self, folder: Path) -> None:
        self.folders.append(folder)


@pytest.fixture
def archive_settings(settings: Settings, tmp_path: Path) -> Settings:
    return dataclasses.replace(settings, archive_dir=tmp_path / "archive", archive_quiet=600)


@pytest.fixture
def service(engine: Engine, archive_settings: Settings) -> ImportService:
    return ImportService(engine, archive_settings)


def quiet_file(path: Path, age: float = 3600) -> Path:
    """Set the file's mtime ``age`` seconds before NOW."""
    os.utime(path, (NOW - age, NOW - age))
    return path


def archiver_for(
    settings: Settings, service: ImportService, watches: FakeWatches | None = None
) -> Archiver:
    return Archiver(
        settings=settings, service=service, watches=watches or FakeWatches(), clock=lambda: NOW
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (DATED, date(2025, 10, 31)),
        ("ninjatrader_executions_20250102 (1).CSV", date(2025, 1, 2)),
        ("NinjaTrader_Executions_20251341.csv", None),
        ("grid-export.csv", None),
    ],
)
def test_date_from_name(name: str, expected: date | None) -> None:
    """The add-on's file name carries the day; an impossible or missing date gives None."""
    assert date_from_name(name) == expected


def test_month_folders(tmp_path: Path) -> None:
    """Only YYYY-MM folders of the archive are month folders."""
    for name in ["2025-10", "2025-11", "misc", "2025-1"]:
        (tmp_path / name).mkdir()
    (tmp_path / "2025-12").write_text("a file")
    assert month_folders(tmp_path) == [tmp_path / "2025-10", tmp_path / "2025-11"]
    assert month_folders(tmp_path / "missing") == []


def test_move_keeps_the_inode_and_never_replaces(tmp_path: Path) -> None:
    """A collision gets -1, -2...; the moved file keeps its inode; nothing is overwritten."""
    folder = tmp_path / "2025-10"
    folder.mkdir()
    (folder / DATED).write_text("first")
    (folder / "NinjaTrader_Executions_20251031-1.csv").write_text("second")
    src = tmp_path / DATED
    src.write_text("mine")
    inode = src.stat().st_ino
    moved = move_no_replace(src, folder)
    assert moved == folder / "NinjaTrader_Executions_20251031-2.csv"
    assert moved.stat().st_ino == inode
    assert not src.exists()
    assert (folder / DATED).read_text() == "first"
    assert moved.read_text() == "mine"


def test_move_across_file_systems_copies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """EXDEV (another file system): copied next to the target, linked in, source removed."""
    real_link = os.link
    calls: list[Path] = []

    def link(src: Any, dst: Any, **dir_fds: Any) -> None:
        calls.append(Path(src))
        if dir_fds.get("src_dir_fd") is None and Path(src).parent != Path(dst).parent:
            raise OSError(errno.EXDEV, "Invalid cross-device link")  # watched -> archive
        real_link(src, dst, **dir_fds)

    monkeypatch.setattr(os, "link", link)
    folder = tmp_path / "archive"
    folder.mkdir()
    src = tmp_path / "a.csv"
    src.write_text("data")
    moved = move_no_replace(src, folder)
    assert moved == folder / "a.csv"
    assert moved.read_text() == "data"
    assert not src.exists()
    assert sorted(p.name for p in folder.iterdir()) == ["a.csv"]  # no temporary left


# Moves a file like the archiver, across file systems ("copy") or not, and is killed with
# SIGKILL at the first unlink: between the move's two steps, the new name made and the
# source not yet removed.
_KILLED_MOVE = """
import errno, os, signal, sys
from pathlib import Path
from csv_import_daemon.daemon import archiver
real_link = os.link
def link(src, dst, **fds):
    if sys.argv[3] == "copy" and fds.get("src_dir_fd") is None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")
    real_link(src, dst, **fds)
os.link = link
os.unlink = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)
archiver.move_no_replace(Path(sys.argv[1]), Path(sys.argv[2]))
"""


@pytest.mark.parametrize("how", ["link", "copy"])
def test_a_move_killed_between_its_two_steps_leaves_one_copy_after_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """A real SIGKILL after the archive name exists and before the source is removed; the
    next move finishes that one: one file in the archive (no -1 twin, no temporary), the
    source gone, the content whole."""
    folder = tmp_path / "archive"
    folder.mkdir()
    src = tmp_path / DATED
    src.write_text("the day's executions\n" * 1000)
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_MOVE, str(src), str(folder), how],
        capture_output=True,
        text=True,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert src.exists()
    assert (folder / DATED).exists()  # the state the kill left: two names
    if how == "copy":
        real_link = os.link

        def link(src: Any, dst: Any, **dir_fds: Any) -> None:
            if dir_fds.get("src_dir_fd") is None:
                raise OSError(errno.EXDEV, "Invalid cross-device link")
            real_link(src, dst, **dir_fds)

        monkeypatch.setattr(os, "link", link)
    assert move_no_replace(src, folder) == folder / DATED
    assert not src.exists()
    assert sorted(p.name for p in folder.iterdir()) == [DATED]
    assert (folder / DATED).read_text() == "the day's executions\n" * 1000


def test_copy_across_file_systems_cannot_be_turned_against_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A symbolic link planted at the temporary name the copy once used (its PID is public)
    and at the final name: the journal it points to keeps its bytes and mode; the copy
    goes through an unpredictable temporary that is gone afterwards."""
    real_link = os.link

    def link(src: Any, dst: Any, **dir_fds: Any) -> None:
        if dir_fds.get("src_dir_fd") is None and Path(src).parent != Path(dst).parent:
            raise OSError(errno.EXDEV, "Invalid cross-device link")  # watched -> archive
        real_link(src, dst, **dir_fds)

    monkeypatch.setattr(os, "link", link)
    journal = tmp_path / "journal.sqlite3"
    journal.write_bytes(b"SQLite format 3\x00journal")
    journal.chmod(0o600)
    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / f".a.csv.{os.getpid()}.part").symlink_to(journal)
    (folder / "a.csv").symlink_to(journal)
    src = tmp_path / "a.csv"
    src.write_text("Instrument,Action\n")
    moved = move_no_replace(src, folder)
    assert moved == folder / "a-1.csv"
    assert moved.read_text() == "Instrument,Action\n"
    assert not moved.is_symlink()
    assert journal.read_bytes() == b"SQLite format 3\x00journal"
    assert journal.stat().st_mode & 0o777 == 0o600
    left = sorted(p.name for p in folder.iterdir())
    assert left == [f".a.csv.{os.getpid()}.part", "a-1.csv", "a.csv"]


def test_symlinked_month_folder_is_refused(
    tmp_path: Path, archive_settings: Settings, service: ImportService
) -> None:
    """ARCHIVE/2025-10 planted as a link to a folder elsewhere: the file is not moved
    (archive_failed), nothing lands outside the archive, and the month is not watched."""
    watch = tmp_path / "watch"
    watch.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "2025-10").symlink_to(outside)
    path = quiet_file(Path(shutil.copy(SAMPLES / DATED, watch / DATED)))
    result = service.import_file(path)
    watches = FakeWatches()
    with capture_logs() as logs:
        new, _ = archiver_for(archive_settings, service, watches).consider(path, result)
    assert new is None
    assert path.exists()
    assert list(outside.iterdir()) == []
    assert watches.folders == []
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["archive_failed"]
    assert month_folders(archive) == []
    with pytest.raises(OSError, match="not a real folder"):
        move_no_replace(path, archive / "2025-10")


def test_move_without_hard_links_renames_to_a_free_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file system without hard links gets a rename to a name that is still free."""

    def link(src: Any, dst: Any, **dir_fds: Any) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", link)
    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / "a.csv").write_text("taken")
    src = tmp_path / "a.csv"
    src.write_text("data")
    assert move_no_replace(src, folder) == folder / "a-1.csv"
    assert (folder / "a.csv").read_text() == "taken"


def test_finished_old_file_moves_with_its_checkpoint(
    tmp_path: Path, archive_settings: Settings, service: ImportService
) -> None:
    """Fully imported, dated before today and quiet: moved to ARCHIVE/YYYY-MM, checkpoint
    carried, the month folder watched first, and the next look reads nothing (the move
    changed the ctime: the content is checked once), the one after is 'unchanged'."""
    watch = tmp_path / "watch"
    watch.mkdir()
    path = quiet_file(Path(shutil.copy(SAMPLES / DATED, watch / DATED)))
    result = service.import_file(path)
    assert result.status == "imported"
    watches = FakeWatches()
    new, wait = archiver_for(archive_settings, service, watches).consider(path, result)
    expected = tmp_path / "archive" / "2025-10" / DATED
    assert (new, wait) == (expected, None)
    assert watches.folders == [expected.parent]
    assert not path.exists()
    again = service.import_file(expected)
    assert (again.status, again.rows_read, again.lines) == ("imported", 0, 0)
    assert service.import_file(expected).status == "unchanged"
    with service.engine.connect() as conn:
        checkpoint = service.checkpoints.load(conn, str(expected))
        assert service.checkpoints.load(conn, str(path)) is None
    assert checkpoint is not None
    assert checkpoint.archived_to == str(expected)


def test_line_appended_after_the_move_is_imported(
    tmp_path: Path, archive_settings: Settings, service: ImportService
) -> None:
    """The add-on may append the next session's first fill after the move: still read."""
    watch = tmp_path / "watch"
    watch.mkdir()
    path = quiet_file(Path(shutil.copy(SAMPLES / DATED, watch / DATED)))
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    result = service.import_file(path)
    new, _ = archiver_for(archive_settings, service).consider(path, result)
    assert new is not None
    late = lines[1].replace("7f3a9c2e1b4d4f6a8c0e2b4d6f8a0c2e", "0" * 32)
    with open(new, "a", encoding="utf-8") as f:
        f.write(late + "\n")
    assert service.import_file(new).inserted == 1


def test_not_quiet_yet_says_when_to_look_again(
    tmp_path: Path, archive_settings: Settings, service: ImportService
) -> None:
    """A file changed 100 s ago with a 600 s quiet period is due in 500 s."""
    path = quiet_file(Path(shutil.copy(SAMPLES / DATED, tmp_path / DATED)), age=100)
    result = service.import_file(path)
    new, wait = archiver_for(archive_settings, service).consider(path, result)
    assert new is None
    assert wait == pytest.approx(500, abs=1)
    assert path.exists()


def test_todays_file_is_never_moved(
    tmp_path: Path, archive_settings: Settings, service: ImportService
) -> None:
    """A file named for the current day stays, however quiet."""
    path = quiet_file(
        Path(shutil.copy(SAMPLES / DATED, tmp_path / "NinjaTrader_Executions_20251103.csv")),
        age=10 * 3600,
    )
    result = service.import_file(path)
    assert archiver_for(archive_settings, service).consider(path, result) == (None, None)
    assert path.exists()


def test_unfinished_file_is_not_moved(
    tmp_path: Path, archive_settings: Settings, service: ImportService
) -> None:
    """A pending half line, or bytes added since the import, keep the file in place."""
    path = Path(shutil.copy(SAMPLES / DATED, tmp_path / DATED))
    result = service.import_file(path)
    archiver = archiver_for(archive_settings, service)
    pending = dataclasses.replace(result, pending_bytes=10)
    assert archiver.consider(path, pending) == (None, None)
    with open(path, "a", encoding="utf-8") as f:
        f.write("MNQ 12-25,Buy,1")
    quiet_file(path)
    assert archiver.consider(path, result) == (None, None)
    refused = ImportResult(path=str(path), status=ImportStatus.REFUSED, offset=path.stat().st_size)
    assert archiver.consider(path, refused) == (None, None)
    assert path.exists()


def test_undated_name_uses_the_last_execution_day(
    tmp_path: Path, archive_settings: Settings, service: ImportService
) -> None:
    """A grid export without a date in its name is filed under its last execution's month."""
    path = quiet_file(Path(shutil.copy(SAMPLES / "grid-export-en-us.csv", tmp_path / "grid.csv")))
    result = service.import_file(path)
    assert result.status == "imported"
    new, _ = archiver_for(archive_settings, service).consider(path, result)
    assert new == tmp_path / "archive" / "2025-01" / "grid.csv"


def test_archiving_waits_for_the_configured_trading_day_rollover(
    tmp_path: Path, archive_settings: Settings, service: ImportService
) -> None:
    """trading_day_rollover decides the current trading day: in a zone still on yesterday,
    yesterday's file waits; with the default (17:00 Chicago) it moves."""
    watch = tmp_path / "watch"
    watch.mkdir()
    path = quiet_file(Path(shutil.copy(SAMPLES / DATED, watch / DATED)))
    result = service.import_file(path)
    # Nov 1, 00:30 in New York (the source zone) is still Oct 31, 21:30 in Los Angeles.
    now = datetime(2025, 11, 1, 0, 30, tzinfo=NEW_YORK).timestamp()
    os.utime(path, (now - 3600, now - 3600))
    late = dataclasses.replace(archive_settings, trading_day_rollover="00:00 America/Los_Angeles")
    waits = Archiver(
        settings=late, service=service, watches=FakeWatches(), clock=lambda: now
    ).consider(path, result)
    assert waits == (None, None)
    moves = Archiver(
        settings=archive_settings, service=service, watches=FakeWatches(), clock=lambda: now
    )
    new, _ = moves.consider(path, result)
    assert new == tmp_path / "archive" / "2025-10" / DATED
