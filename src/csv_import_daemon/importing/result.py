"""What one import did to one file: a status from one vocabulary, and the counts committed.

``Counts`` is the one shape of row counts: per batch, per transaction, per file (results
and checkpoints), per run (the importer thread, the ``import`` total) and in the metrics.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class ImportStatus(enum.StrEnum):
    """The headline of an import; the values are the words logs and ``status`` show."""

    IMPORTED = "imported"  # rows read (possibly all duplicates) and committed
    UNCHANGED = "unchanged"  # same identity, size and mtime as the checkpoint: only a stat
    PENDING = "pending"  # nothing complete to read yet: a half line or header waits
    EMPTY = "empty"  # zero bytes
    REFUSED = "refused"  # not an Executions export (or unusable under the settings)
    ERROR = "error"  # the file could not be read now; retried later
    INTERRUPTED = "interrupted"  # stopped between committed batches; the rest comes next time


# A file with one of these could not be imported at all (exit 1 for one-shot imports).
FAILED = frozenset({ImportStatus.REFUSED, ImportStatus.ERROR})
COUNT_NAMES = ("inserted", "duplicates", "rejected", "conflicts", "replaced")


@dataclass(frozen=True, slots=True)
class Counts:
    """Rows by outcome; added up per batch, per transaction, per file and per run."""

    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    conflicts: int = 0
    # Executions whose stored content was replaced (import --reread --replace); not kept
    # in checkpoints.
    replaced: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.inserted + other.inserted,
            self.duplicates + other.duplicates,
            self.rejected + other.rejected,
            self.conflicts + other.conflicts,
            self.replaced + other.replaced,
        )

    @property
    def total(self) -> int:
        return self.inserted + self.duplicates + self.rejected + self.conflicts + self.replaced

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNT_NAMES}


@dataclass(slots=True)
class ImportResult:
    """What one call did to one file; counts are only what was committed."""

    path: str
    status: ImportStatus = ImportStatus.IMPORTED
    counts: Counts = Counts()
    offset: int = 0
    pending_bytes: int = 0
    lines: int = 0
    duration_ms: float = 0.0
    message: str = ""
    # Files of the folder whose rows wait for their date order, which this file settles
    # (folder evidence): to be read again.
    settles: tuple[Path, ...] = ()

    @property
    def rows_read(self) -> int:
        return self.counts.total

    # The counts by name, as logs, summaries and tests read them.
    @property
    def inserted(self) -> int:
        return self.counts.inserted

    @property
    def duplicates(self) -> int:
        return self.counts.duplicates

    @property
    def rejected(self) -> int:
        return self.counts.rejected

    @property
    def conflicts(self) -> int:
        return self.counts.conflicts

    @property
    def replaced(self) -> int:
        return self.counts.replaced

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "status": str(self.status),
            **self.counts.as_dict(),
            "offset": self.offset,
            "pending_bytes": self.pending_bytes,
            "duration_ms": round(self.duration_ms, 1),
            **({"message": self.message} if self.message else {}),
        }


class CommitObserver(Protocol):
    """Told, after each commit of one file's import, how far into the file it got.

    The importing layer's own interface: a caller above it (the command line's progress
    bar, a test) implements it and hands it in, so importing never names their code."""

    def committed(self, offset: int, size: int) -> None: ...
