"""Archiving: a finished file from an earlier trading day moves to ``ARCHIVE/YYYY-MM/``.

A file is moved only when it is dated before the current trading day (from its
``NinjaTrader_Executions_YYYYMMDD`` name, else from its last execution), fully imported and
quiet for ``archive_quiet`` seconds. The move never replaces a file (a collision gets a
``-1``, ``-2``... suffix) and keeps the inode where it can (a hard link, then an unlink), so
the checkpoint carried by ``ImportService.move_checkpoint`` still matches and nothing is read
again. The month folder is watched from then on: a line the add-on appends after the move
is still imported. Runs in the importer thread, the only database writer.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, OperationalError

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db.tables import TRADES
from csv_import_daemon.errors import NotRegularFileError
from csv_import_daemon.files.names import date_from_name, path_key
from csv_import_daemon.files.quiet_period import seconds_until_settled
from csv_import_daemon.files.reader import open_regular
from csv_import_daemon.importing.result import ImportResult, ImportStatus
from csv_import_daemon.logs import get_logger

if TYPE_CHECKING:
    from csv_import_daemon.importing.service import ImportService

log = get_logger(__name__)

MONTH_DIR_RE = re.compile(r"\d{4}-\d{2}")
_MAX_SUFFIX = 10_000
_FINISHED = frozenset({ImportStatus.IMPORTED, ImportStatus.UNCHANGED})  # may be archived
COPY_BLOCK = 1 << 20
_NO_HARD_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS)


class Watches(Protocol):
    def watch(self, folder: Path) -> None: ...


def month_folders(archive_dir: Path) -> list[Path]:
    """The existing ``YYYY-MM`` folders of the archive."""
    try:
        return sorted(
            p
            for p in archive_dir.iterdir()
            if p.is_dir() and not p.is_symlink() and MONTH_DIR_RE.fullmatch(p.name)
        )
    except OSError:
        return []


def move_no_replace(src: Path, folder: Path) -> Path:
    """Move ``src`` into ``folder`` without replacing anything; the path it ended at.

    A hard link then an unlink keeps the inode (and an open writer's appends); across file
    systems the file is copied first. A file system without hard links gets a plain rename
    after an existence check. ``folder`` must be a real folder, not a symbolic link: every
    name is then created relative to the descriptor that was checked (no path is looked
    up twice), so nothing planted in the archive can redirect a write.
    """
    try:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise OSError(exc.errno, "archive folder is not a real folder", str(folder)) from None
        raise
    try:
        return folder / _move_into(src, folder, dir_fd)
    finally:
        os.close(dir_fd)


def _move_into(src: Path, folder: Path, dir_fd: int) -> str:
    for candidate in _candidates(src.name):
        try:
            os.link(src, candidate, dst_dir_fd=dir_fd)
        except FileExistsError:
            if _already_moved(src, candidate, dir_fd):
                os.unlink(src)  # a move killed between its link and its unlink: finish it
                return candidate
            continue
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                return _copy_no_replace(src, dir_fd)
            if exc.errno in _NO_HARD_LINKS:
                return _rename_if_free(src, dir_fd)
            raise
        os.unlink(src)
        return candidate
    raise FileExistsError(errno.EEXIST, "no free archive name", str(folder / src.name))


def _candidates(name: str) -> list[str]:
    stem, suffix = os.path.splitext(name)
    return [name, *(f"{stem}-{i}{suffix}" for i in range(1, _MAX_SUFFIX))]


def _copy_no_replace(src: Path, dir_fd: int) -> str:
    """Copy through a temporary created exclusively (O_EXCL, O_NOFOLLOW) under a random
    name: a link planted in the archive can neither be followed nor guessed."""
    _remove_stale_parts(src.name, dir_fd)
    tmp = f".{src.name}.{secrets.token_hex(16)}.part"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    out = os.open(tmp, flags, 0o600, dir_fd=dir_fd)
    try:
        try:
            with open_regular(src) as f:
                st = os.fstat(f.fileno())
                while block := f.read(COPY_BLOCK):
                    os.write(out, block)  # a regular file: writes are complete
            os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns))
            os.fsync(out)  # on disk before the original goes
        finally:
            os.close(out)
        for candidate in _candidates(src.name):
            try:
                os.link(tmp, candidate, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except FileExistsError:
                if not _already_moved(src, candidate, dir_fd):
                    continue
            os.unlink(src)
            return candidate
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dir_fd)
    raise FileExistsError(errno.EEXIST, "no free archive name", src.name)


def _already_moved(src: Path, candidate: str, dir_fd: int) -> bool:
    """``candidate`` is ``src`` as an earlier move left it when killed before removing the
    source: the same inode (linked), or a complete copy (same size, mtime and bytes; the
    copy keeps the mtime). Anything else is another file: the next free name is taken."""
    try:
        theirs = os.stat(candidate, dir_fd=dir_fd, follow_symlinks=False)
        mine = os.stat(src)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(theirs.st_mode):
        return False
    if (theirs.st_dev, theirs.st_ino) == (mine.st_dev, mine.st_ino):
        return True
    if (theirs.st_size, theirs.st_mtime_ns) != (mine.st_size, mine.st_mtime_ns):
        return False
    fd = os.open(candidate, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    with open(fd, "rb") as copy, open_regular(src) as original:
        while True:
            block = original.read(COPY_BLOCK)
            if block != copy.read(COPY_BLOCK):
                return False
            if not block:
                return True


def _remove_stale_parts(name: str, dir_fd: int) -> None:
    """Temporaries of ``name`` a killed copy left (never linked in: not archived)."""
    stale = re.compile(rf"\.{re.escape(name)}\.[0-9a-f]{{32}}\.part")
    for entry in os.listdir(dir_fd):
        if stale.fullmatch(entry):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry, dir_fd=dir_fd)


def _rename_if_free(src: Path, dir_fd: int) -> str:
    for candidate in _candidates(src.name):
        try:
            os.lstat(candidate, dir_fd=dir_fd)
        except FileNotFoundError:
            os.rename(src, candidate, dst_dir_fd=dir_fd)
            return candidate
    raise FileExistsError(errno.EEXIST, "no free archive name", src.name)


def month_folder(archive_dir: Path, day: date) -> Path:
    """``ARCHIVE/YYYY-MM`` for ``day``, made if missing; OSError unless it is a real folder
    directly inside the archive (a symbolic link there would lead the move elsewhere)."""
    name = f"{day:%Y-%m}"
    base = os.open(archive_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o700, dir_fd=base)
        st = os.lstat(name, dir_fd=base)
    finally:
        os.close(base)
    if not stat.S_ISDIR(st.st_mode):
        raise OSError(errno.ENOTDIR, "archive month folder is not a real folder", name)
    return archive_dir / name


class Archiver:
    """Decides, after each import, whether a file is due to move, and moves it."""

    def __init__(
        self,
        *,
        settings: Settings,
        service: ImportService,
        watches: Watches,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if settings.archive_dir is None:
            raise ValueError("archiving needs settings.archive_dir")
        self.archive_dir = Path(os.path.abspath(settings.archive_dir))
        self.quiet = settings.archive_quiet
        self.tz = settings.tz
        # When a trading day starts (trading_day_rollover, default 17:00 America/Chicago);
        # today's calendar file (source time zone) is never moved whatever it says.
        self.rollover = settings.rollover
        self.service = service
        self.watches = watches
        self.clock = clock
        # Last execution day per file version (path, size, mtime): one query per version.
        self._days: dict[tuple[Path, int, int], date | None] = {}

    def consider(self, path: Path, result: ImportResult) -> tuple[Path | None, float | None]:
        """Archive ``path`` if it is due: (new path or None, seconds until it may be due)."""
        if result.status not in _FINISHED or result.pending_bytes:
            return None, None
        try:
            st = os.stat(path)
        except OSError:
            return None, None
        if st.st_size != result.offset:
            return None, None  # grew since: its own event brings it back
        day = self._day_of(path, st.st_size, st.st_mtime_ns)
        now = datetime.fromtimestamp(self.clock(), self.tz)
        trading_day = self.rollover.day_of(now)
        if day is None or day >= now.date() or day >= trading_day:
            return None, None  # today's (or an undated) file; the periodic rescan looks again
        quiet_left = seconds_until_settled(st.st_mtime_ns, self.quiet, self.clock())
        if quiet_left > 0:
            return None, quiet_left
        return self._move(path, day), None

    def _day_of(self, path: Path, size: int, mtime_ns: int) -> date | None:
        named = date_from_name(path.name)
        if named is not None:
            return named
        key = (path, size, mtime_ns)
        if key not in self._days:
            if len(self._days) > 10_000:
                self._days.clear()
            self._days[key] = self._last_execution_day(path)
        return self._days[key]

    def _last_execution_day(self, path: Path) -> date | None:
        with self.service.engine.connect() as conn:
            last: datetime | None = conn.scalar(
                select(func.max(TRADES.c.executed_at)).where(TRADES.c.source_file == path_key(path))
            )
        if last is None:
            return None
        return last.replace(tzinfo=UTC).astimezone(self.tz).date()

    def _move(self, path: Path, day: date) -> Path | None:
        try:
            self.archive_dir.mkdir(parents=True, exist_ok=True)
            folder = month_folder(self.archive_dir, day)
            self.watches.watch(folder)  # before the move: a late line must not go unseen
            new = move_no_replace(path, folder)
        except (OSError, NotRegularFileError) as exc:
            error = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
            log.warning("archive_failed", file=path_key(path), error=error)
            return None
        try:
            self.service.move_checkpoint(path, new, archived=True)
        except (OperationalError, DBAPIError) as exc:
            # The file has moved; its next import adopts the checkpoint by device and inode.
            log.warning(
                "archive_checkpoint_deferred",
                file=path_key(path),
                archived_to=path_key(new),
                error=str(getattr(exc, "orig", exc)),
            )
        log.info("archive", file=path_key(path), archived_to=path_key(new), day=day.isoformat())
        return new
