"""The journal's tables by the names statements use (defined in ``db.models``)."""

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
]
