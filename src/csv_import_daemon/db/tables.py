"""The journal's tables by the names statements use, and the values of the checkpoint
status column (defined in ``db.models``)."""

from __future__ import annotations

from csv_import_daemon.db.models import (
    CORRECTIONS,
    FILES,
    INSTANCES,
    LEDGER,
    METADATA,
    REJECTIONS,
    RETENTION,
    ROUND_TRIP_FILLS,
    ROUND_TRIPS,
    TRADES,
    CheckpointStatus,
)

__all__ = [
    "CORRECTIONS",
    "FILES",
    "INSTANCES",
    "LEDGER",
    "METADATA",
    "REJECTIONS",
    "RETENTION",
    "ROUND_TRIPS",
    "ROUND_TRIP_FILLS",
    "TRADES",
    "CheckpointStatus",
]
