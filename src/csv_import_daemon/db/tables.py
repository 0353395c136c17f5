"""The journal's tables by the names statements use, the values of the checkpoint status
column, and now as the DateTime columns store it (defined in ``db.models``)."""

from __future__ import annotations

from csv_import_daemon.db.models import (
    CORRECTIONS,
    FILES,
    INSTANCES,
    LEDGER,
    METADATA,
    RECORDED,
    REJECTIONS,
    RETENTION,
    ROUND_TRIP_BOOKINGS,
    ROUND_TRIP_FILLS,
    ROUND_TRIP_STATE,
    ROUND_TRIPS,
    TRADES,
    CheckpointStatus,
    sqlite_time,
    utc_now,
)

__all__ = [
    "CORRECTIONS",
    "FILES",
    "INSTANCES",
    "LEDGER",
    "METADATA",
    "RECORDED",
    "REJECTIONS",
    "RETENTION",
    "ROUND_TRIPS",
    "ROUND_TRIP_BOOKINGS",
    "ROUND_TRIP_FILLS",
    "ROUND_TRIP_STATE",
    "TRADES",
    "CheckpointStatus",
    "sqlite_time",
    "utc_now",
]
