"""What one import did to one file: a status from one vocabulary, and the counts committed."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


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


@dataclass(slots=True)
class ImportResult:
    """What one call did to one file; counts are only what was committed."""

    path: str
    status: ImportStatus = ImportStatus.IMPORTED
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    conflicts: int = 0
    # Executions whose stored content this read replaced (import --reread --replace).
    replaced: int = 0
    offset: int = 0
    pending_bytes: int = 0
    lines: int = 0
    duration_ms: float = 0.0
    message: str = ""

    @property
    def rows_read(self) -> int:
        return self.inserted + self.duplicates + self.rejected + self.conflicts + self.replaced

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "status": str(self.status),
            "inserted": self.inserted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "conflicts": self.conflicts,
            "replaced": self.replaced,
            "offset": self.offset,
            "pending_bytes": self.pending_bytes,
            "duration_ms": round(self.duration_ms, 1),
            **({"message": self.message} if self.message else {}),
        }
