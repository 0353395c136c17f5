"""A commission's currency is kept per trade, from the symbol or code its cell shows."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, text

from csv_import_daemon.config.settings import Settings
from support.trips import DAY1, import_all, row, write


def test_the_commission_currency_is_stored_per_trade(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """'$' is USD, a code is kept as written, no symbol is null (SQLite and PostgreSQL)."""
    f = write(
        tmp_path / "c.csv",
        [
            row("c1", "Buy", 1, "20000", DAY1, instrument="FDAX MAR25", commission="$2.00"),
            row(
                "c2",
                "Sell",
                1,
                "20010",
                DAY1 + timedelta(minutes=1),
                instrument="FDAX MAR25",
                commission="EUR 1.20",
            ),
            row("c3", "Buy", 1, "100", DAY1 + timedelta(minutes=2), commission="1.20"),
        ],
    )
    import_all(engine, settings, f)
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT execution_id, commission_currency FROM trades ORDER BY execution_id")
        ).all()
    assert [tuple(r) for r in stored] == [("c1", "USD"), ("c2", "EUR"), ("c3", None)]
