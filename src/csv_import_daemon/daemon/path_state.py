"""What the importer thread remembers about one path between two imports."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from csv_import_daemon.daemon.backoff import Backoff
from csv_import_daemon.files.reader import FileStat

# The version of a file that could not even be stat'ed (no real file has size -1).
NO_FILE = FileStat(0, 0, -1, 0, 0)


@dataclass(slots=True)
class PathState:
    """What the importer thread remembers about one path between two imports."""

    due: float | None = None  # monotonic time its timer fires; None: no timer
    retry: Backoff | None = None  # failed reads since the last success
    # The file at its last unreadable attempt; its ctime counts (a chmod changes only the
    # ctime, and may well be the fix).
    failed_as: FileStat | None = None
    problem: tuple[str, str] | None = None  # the refusal last logged (logged once)
    # An incomplete last line looked at after the settle period: the extra look, then
    # the settled version itself (rescans then cost only a stat until the file changes).
    looked: FileStat | None = None
    settled: FileStat | None = None

    @property
    def empty(self) -> bool:
        return (
            self.due is None
            and self.retry is None
            and self.failed_as is None
            and self.problem is None
            and self.looked is None
            and self.settled is None
        )

    def backing_off(self, path: Path) -> bool:
        """Unreadable, waiting for its retry timer, and unchanged since (not even its
        permissions): a rescan does not cut the backoff short, a real change does."""
        return (
            self.due is not None
            and self.failed_as is not None
            and self.failed_as == failed_version(path)
        )

    def still_settled(self, path: Path) -> bool:
        """An incomplete last line already judged and the file unchanged: only a stat
        (rescans would otherwise read the tail and rewrite the checkpoint every time)."""
        if self.settled is None:
            return False
        if FileStat.at(path) == self.settled:
            return True
        self.settled = None
        return False


def failed_version(path: Path) -> FileStat:
    """The file's version as a failed read leaves it."""
    return FileStat.at(path) or NO_FILE


def mtime_of(path: Path) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None
