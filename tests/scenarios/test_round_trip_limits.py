"""Round trips of absurd but valid fills: derived sums never fail the import of their file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, text

from csv_import_daemon.config.settings import Settings
from support.trips import DAY1, import_all, row, write

MAX_QUANTITY = 2**31 - 1  # the largest quantity a fill may have (trades.quantity INTEGER)


def test_a_position_past_two_billion_contracts_still_imports(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Two fills of the largest quantity open one round trip of twice that many contracts."""
    path = write(
        tmp_path / "huge.csv",
        [
            row("h1", "Buy", MAX_QUANTITY, "100", DAY1),
            row("h2", "Buy", MAX_QUANTITY, "101", DAY1 + timedelta(seconds=1)),
        ],
    )
    import_all(engine, settings, path)
    with engine.connect() as conn:
        got = conn.execute(text("SELECT quantity, open_quantity FROM round_trips")).all()
    assert [tuple(r) for r in got] == [(2 * MAX_QUANTITY, 2 * MAX_QUANTITY)]
