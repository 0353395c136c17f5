"""What the importer thread remembers about one path between two imports."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from csv_import_daemon.daemon.backoff import Backoff
from csv_import_daemon.files.reader import FileStat

# A file as a failed read left it: identity, size, mtime, and the ctime (a chmod changes
# only the ctime, and may well be the fix); (None, 0) when it could not even be stat'ed.
FailedVersion = tuple[FileStat | None, int]


@dataclass(slots=True)
class PathState:
    """What the importer thread remembers about one path between two imports."""

    due: float | None = None  # monotonic time its timer fires; None: no timer
    retry: Backoff | None = None  # failed reads since the last success
    failed_as: FailedVersion | None = None  # the file at its last unreadable attempt
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


def failed_version(path: Path) -> FailedVersion:
    """The file's version as a failed read leaves it."""
    try:
        st = os.stat(path)
    except OSError:
        return None, 0
    return FileStat.of(st), st.st_ctime_ns


def mtime_of(path: Path) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None
