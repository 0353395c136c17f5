"""The files this instance has finished with, in memory: a rescan filter, never the truth.

Loaded once at start from the instance's checkpoints (one query), then kept current by
each commit: for every path whose checkpoint has nothing left to read (no pending half
line) it holds the identity, size and mtime that checkpoint was taken at. A rescan stats a
file and queues it only when the stat differs or the path is unknown; an unchanged file
then costs a stat, no open and no database round trip. Whatever is queued gets the full
check against the database, so a stale or missing entry only costs that check.

It also holds every (device, inode) any checkpoint of the instance was saved with, added
before the commit: a superset, so "no checkpoint has this identity" is a safe answer and a
new file's rename look-up needs no query.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, select

from csv_import_daemon.db.tables import FILES
from csv_import_daemon.files.names import path_key
from csv_import_daemon.files.reader import FileStat


class Saved(Protocol):
    """What the filter keeps of a checkpoint (``Checkpoint`` is one; the store that saves
    checkpoints owns a filter, so the filter does not import it back)."""

    @property
    def path(self) -> str: ...

    @property
    def stat(self) -> FileStat: ...

    @property
    def pending_bytes(self) -> int: ...


class KnownFiles:
    """Thread-safe: the importer thread records, the main thread's rescan asks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done: dict[str, FileStat] = {}
        self._identities: set[tuple[int, int]] = set()
        self.loaded = False  # the identities hold every checkpoint of the instance

    def load(self, conn: Connection, instance: str, digest: str) -> int:
        """Every checkpoint of ``instance``, in one query; returns how many.

        A checkpoint whose rows were decided under other settings (``settings_digest``
        differs from ``digest``) is left out: its file must be read again at start."""
        cols = FILES.c
        rows = conn.execute(
            select(
                cols.path,
                cols.device,
                cols.inode,
                cols.size,
                cols.mtime_ns,
                cols.ctime_ns,
                cols.pending_bytes,
                cols.settings_digest,
            ).where(cols.instance == instance)
        ).all()
        with self._lock:
            for path, device, inode, size, mtime_ns, ctime_ns, pending, decided_under in rows:
                self._identities.add((device or 0, inode or 0))
                if not pending and decided_under in (None, digest):
                    self._done[path] = FileStat(
                        device or 0, inode or 0, size, mtime_ns, ctime_ns or 0
                    )
            self.loaded = True
        return len(rows)

    def saving(self, cp: Saved) -> None:
        """A checkpoint is about to be saved (its commit may still fail)."""
        with self._lock:
            self._identities.add((cp.stat.device, cp.stat.inode))

    def record(self, cp: Saved) -> None:
        """``cp`` is committed (or read back from the database): the file's state now."""
        with self._lock:
            self._identities.add((cp.stat.device, cp.stat.inode))
            if cp.pending_bytes:
                self._done.pop(cp.path, None)  # a half line: the daemon's settle logic decides
            else:
                self._done[cp.path] = cp.stat

    def forget(self, key: str) -> None:
        with self._lock:
            self._done.pop(key, None)

    def may_have_identity(self, st: FileStat) -> bool:
        """False only when no checkpoint of the instance has this device and inode."""
        if not self.loaded:
            return True
        with self._lock:
            return (st.device, st.inode) in self._identities

    def unchanged(self, path: Path) -> bool:
        """The file is exactly as its committed checkpoint saw it (one stat)."""
        with self._lock:
            version = self._done.get(path_key(path))
        if version is None:
            return False
        try:
            st = os.stat(path)
        except OSError:
            return False  # gone or unreadable: the full check says what to do
        # The ctime catches a rewrite that kept size and mtime (cp -p, touch -r).
        return version == (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def changed(
        self, paths: Iterable[Path], *, always: Callable[[Path], bool] | None = None
    ) -> list[Path]:
        """The paths a rescan must queue: unknown or changed, or ``always(path)``."""
        return [p for p in paths if (always is not None and always(p)) or not self.unchanged(p)]

    def __len__(self) -> int:
        return len(self._done)
