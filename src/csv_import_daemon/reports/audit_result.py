"""What ``verify`` finds in one file (``FileAudit``) and the verdicts it gives."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class ReadObserver(Protocol):
    """Told, as an audit reads a file, how far it got (the command line's bar implements
    it: this layer never names that code)."""

    def read(self, offset: int, size: int) -> None: ...


class AuditStatus(StrEnum):
    """The verdict on one file."""

    OK = "ok"
    MISSING = "missing"  # a row the checkpoint vouches for is not in the ledger
    UNRECORDED = "unrecorded"  # a rejected row is not in import_rejections
    REPAIR_PENDING = "repair_pending"  # an interrupted --reread --replace
    # saved over without fills read before (no ID column): rows held back, never doubled
    REWRITTEN = "rewritten"
    REFUSED = "refused"  # not an executions export
    ERROR = "error"  # unreadable, or refused now although it was imported
    EMPTY = "empty"  # no header line


class CheckpointClaim(StrEnum):
    """What the file's checkpoint vouches for."""

    OK = "ok"  # the lines up to its offset
    CHANGED = "changed"  # nothing: the file differs since it was read
    NONE = "none"  # no checkpoint: the file is claimed whole


@dataclass(slots=True)
class FileAudit:
    """What one file holds and what the journal holds of it."""

    file: str
    checkpoint: CheckpointClaim = CheckpointClaim.NONE
    status: AuditStatus = AuditStatus.OK
    executions: int = 0
    present: int = 0
    deleted: int = 0  # in the ledger, no longer in trades: the user deleted them
    # Before the ledger's retention horizon and in neither table: deleted after a prune
    # (or refused as ``before_retention_horizon``); never stored again, so not missing.
    before_horizon: int = 0
    unread: int = 0  # after the checkpoint: the daemon reads them next
    rejected: int = 0
    missing: list[dict[str, Any]] = field(default_factory=list)
    unrecorded: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    # Stored as a whole minute (from a re-save) where this file writes the exact time: not
    # a conflict, as importing this file gives the exact time (``importing.seen_before``).
    finer: list[dict[str, Any]] = field(default_factory=list)
    # Stored values the independent reading (``reports.readings``) does not give.
    readings: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    # (account, contract) -> [first, last] stored time of this file's fills still in
    # trades: what ``verify FILE`` checks the round trips of (not in the report).
    spans: dict[tuple[str, str | None], list[datetime]] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return bool(self.missing or self.unrecorded or self.readings) or self.status in (
            AuditStatus.ERROR,
            AuditStatus.REPAIR_PENDING,
            AuditStatus.REWRITTEN,
        )

    def stored(self, account: str, contract: str | None, at: datetime) -> None:
        """A fill of this file stored at ``at``: widen its (account, contract)'s span."""
        span = self.spans.setdefault((account, contract), [at, at])
        if at < span[0]:
            span[0] = at
        elif at > span[1]:
            span[1] = at

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "status": self.status.value,
            "checkpoint": self.checkpoint.value,
            "executions": self.executions,
            "present": self.present,
            "deleted": self.deleted,
            "before_horizon": self.before_horizon,
            "unread": self.unread,
            "missing": self.missing,
            "rejected": self.rejected,
            "rejected_unrecorded": self.unrecorded,
            "conflicts": self.conflicts,
            "finer": self.finer,
            "readings": self.readings,
            **({"message": self.message} if self.message else {}),
        }
