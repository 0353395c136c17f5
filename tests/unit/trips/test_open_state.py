"""An open round trip continues from its stored FIFO state: an append reads none of its
fills back, and the tables equal a rebuild (state rows included); SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.trips import refresh
from support.trips import assert_equal_to_a_rebuild, import_all, row, write

MONDAY = datetime(2025, 1, 27, 10, 0, 0)  # New York wall clock


@contextmanager
def reads_of_trades() -> Iterator[list[Any]]:
    """Every page of fills a refresh reads back from ``trades`` (the real reader runs)."""
    seen: list[Any] = []
    real = refresh._pages

    def spy(*args: Any, **kwargs: Any) -> Any:
        for page in real(*args, **kwargs):
            seen.append(page)
            yield page

    refresh._pages = spy  # type: ignore[assignment]
    try:
        yield seen
    finally:
        refresh._pages = real  # type: ignore[assignment]


def _day(tmp_path: Path, n: int) -> Path:
    """Day n: buy 2, sell 1 (never flat: one more contract held each day)."""
    at = MONDAY + timedelta(days=n)
    return write(
        tmp_path / f"day{n}.csv",
        [
            row(f"b{n}", "Buy", 2, str(20000 + n), at, commission="$1.04"),
            row(f"s{n}", "Sell", 1, f"{20001 + n}.25", at + timedelta(hours=1), commission="$0.52"),
        ],
    )


def test_a_never_flat_position_continues_without_reading_its_fills(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    import_all(engine, settings, _day(tmp_path, 0))
    for n in range(1, 4):
        with reads_of_trades() as pages:
            import_all(engine, settings, _day(tmp_path, n))
        assert [p for p in pages if p] == []  # nothing read back: the state row sufficed
        assert_equal_to_a_rebuild(engine)
    with engine.connect() as conn:
        trips = conn.execute(text("SELECT open_quantity, quantity FROM round_trips")).all()
        states = conn.execute(text("SELECT count(*) FROM round_trip_state")).scalar()
    assert [tuple(t) for t in trips] == [(4, 8)]
    assert states == 1
    # Closing it and reversing: the closed one loses its state, the new one has its own.
    at = MONDAY + timedelta(days=5)
    close = write(tmp_path / "close.csv", [row("c1", "Sell", 6, "20010", at)])
    import_all(engine, settings, close)
    assert_equal_to_a_rebuild(engine)
    with engine.connect() as conn:
        open_ = conn.execute(
            text("SELECT direction, open_quantity FROM round_trips WHERE closed_at IS NULL")
        ).all()
        states = conn.execute(text("SELECT count(*) FROM round_trip_state")).scalar()
    assert [tuple(t) for t in open_] == [("short", 2)]
    assert states == 1


def test_an_open_round_trip_without_state_is_recomputed_and_gets_one(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """A journal from before the state (or a row deleted by hand): the next append reads the
    open round trip back once, then continues from the state it wrote."""
    import_all(engine, settings, _day(tmp_path, 0))
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM round_trip_state"))
    with reads_of_trades() as pages:
        import_all(engine, settings, _day(tmp_path, 1))
    assert any(pages)
    assert_equal_to_a_rebuild(engine)
    with reads_of_trades() as pages:
        import_all(engine, settings, _day(tmp_path, 2))
    assert [p for p in pages if p] == []
    assert_equal_to_a_rebuild(engine)


def test_a_repair_of_fills_in_an_open_round_trip_counts_each_once(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Two buys of 1 (still open); the second's commission repaired with --reread
    --replace: the round trip still holds 2 contracts and each fill once, as a rebuild."""
    from csv_import_daemon.importing.service import ImportService  # noqa: PLC0415

    path = tmp_path / "open.csv"

    def fills(commission: str) -> list[str]:
        return [
            row("e1", "Buy", 1, "100", MONDAY, commission="$0.50"),
            row("e2", "Buy", 1, "101", MONDAY + timedelta(minutes=1), commission=commission),
        ]

    import_all(engine, settings, write(path, fills("$0.50")))
    write(path, fills("$0.75"))
    result = ImportService(engine, settings).import_file(path, reread=True, replace=True)
    assert result.counts.replaced == 1
    with engine.connect() as conn:
        quantity = conn.execute(text("SELECT open_quantity FROM round_trips")).scalar_one()
        parts = conn.execute(text("SELECT count(*) FROM round_trip_fills")).scalar_one()
    assert (quantity, parts) == (2, 2)
    assert_equal_to_a_rebuild(engine)
