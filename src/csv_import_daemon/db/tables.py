"""The Core table objects of the models, for statements on a plain ``Connection``."""

from __future__ import annotations

from sqlalchemy import Table

from csv_import_daemon.db.models import (
    DaemonInstance,
    ImportedExecution,
    ImportFile,
    ImportRejection,
    LedgerRetention,
    RoundTrip,
    RoundTripFill,
    Trade,
    TradeCorrection,
)

TRADES: Table = Trade.__table__  # type: ignore[assignment]
LEDGER: Table = ImportedExecution.__table__  # type: ignore[assignment]
FILES: Table = ImportFile.__table__  # type: ignore[assignment]
REJECTIONS: Table = ImportRejection.__table__  # type: ignore[assignment]
INSTANCES: Table = DaemonInstance.__table__  # type: ignore[assignment]
CORRECTIONS: Table = TradeCorrection.__table__  # type: ignore[assignment]
ROUND_TRIPS: Table = RoundTrip.__table__  # type: ignore[assignment]
ROUND_TRIP_FILLS: Table = RoundTripFill.__table__  # type: ignore[assignment]
RETENTION: Table = LedgerRetention.__table__  # type: ignore[assignment]
