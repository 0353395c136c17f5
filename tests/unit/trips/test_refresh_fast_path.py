"""Round trips continued in memory (fills all later than the stored ones) equal a rebuild
from ``trades``, value for value and as stored; anything else is recomputed. SQLite and
PostgreSQL.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.files import reader
from csv_import_daemon.importing import service as importer
from csv_import_daemon.importing.service import ImportService
from csv_import_daemon.trips import changes as trip_changes
from support.trips import assert_equal_to_a_rebuild, refreshes, row, write

T0 = datetime(2025, 1, 28, 10, 0, 0)  # New York wall clock


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read 64 bytes at a time, so that ``batch_size`` rows make a transaction."""
    monkeypatch.setattr(reader, "BLOCK_BYTES", 64)


def _row(eid: str, action: str, qty: int, price: str, second: int, **columns: Any) -> str:
    """test_round_trips' row, ``second`` seconds after T0, commission $0.37 unless given."""
    columns.setdefault("commission", "$0.37")
    return row(eid, action, qty, price, T0 + timedelta(seconds=second), **columns)


_write = write


# An open round trip carried across transactions (3 rows each), scaled in and out, a
# reversal whose commission splits with a remainder, a same-second pair inside one
# transaction, a second account and instrument.
APPENDS = [
    _row("a01", "Buy", 2, "20000.25", 0),
    _row("a02", "Buy", 1, "20001.50", 1),
    _row("b01", "Sell", 1, "5000.25", 1, account="APEX-1", instrument="MES MAR25"),
    _row("a03", "Sell", 1, "20002", 2),
    _row("a04", "Buy", 3, "19999.75", 3),
    _row("a05", "Sell", 7, "20003.25", 4, commission="$2.05"),  # 5 close, 2 open short
    _row("b02", "Buy", 1, "5001", 5, account="APEX-1", instrument="MES MAR25"),
    _row("a06", "Buy", 1, "20001", 6, flag="Exit"),
    _row("a07", "Sell", 1, "20000.5", 6, flag="Entry"),  # same second, same transaction
    _row("a08", "Buy", 4, "19998", 7),  # 2 close, 2 open long: left open
]


def test_appends_continued_in_memory_equal_a_rebuild(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """In-order appends continue in memory, and give exactly what a rebuild gives."""
    service = ImportService(engine, dataclasses.replace(settings, batch_size=3))
    with refreshes() as seen:
        assert service.import_file(_write(tmp_path / "day.csv", APPENDS)).inserted == 10
    assert sum(r.continued for r in seen) >= 4  # every transaction's keys, the open one too
    assert sum(r.recomputed for r in seen) == 0
    assert_equal_to_a_rebuild(engine)


def test_a_split_second_or_a_late_older_fill_is_recomputed_from_trades(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """A second split across transactions, or an older fill arriving late: recomputed."""
    service = ImportService(engine, dataclasses.replace(settings, batch_size=2))
    split = [
        _row("s1", "Buy", 1, "100", 0),
        _row("s2", "Buy", 1, "101", 1),
        _row("s3", "Sell", 2, "102", 1, flag="Exit"),  # second 1 goes on in the next one
        _row("s4", "Sell", 1, "103", 2),
    ]
    with refreshes() as seen:
        service.import_file(_write(tmp_path / "split.csv", split))
    assert [r.recomputed for r in seen] == [0, 1]
    assert_equal_to_a_rebuild(engine)
    with refreshes() as seen:
        service.import_file(_write(tmp_path / "late.csv", [_row("s0", "Sell", 1, "99", -5)]))
    assert [(r.continued, r.recomputed) for r in seen] == [(0, 1)]
    assert_equal_to_a_rebuild(engine)


def test_a_large_transaction_refreshes_as_it_goes_and_still_equals_a_rebuild(
    engine: Engine, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many fills in one transaction: refreshed every few fills, committed once, exact."""
    monkeypatch.setattr(importer, "WRITE_ROWS", 2)  # write batches of 2 rows
    monkeypatch.setattr(trip_changes, "HOLD", 3)  # refresh once 3 fills are held
    service = ImportService(engine, dataclasses.replace(settings, batch_size=1000))
    with refreshes() as seen:
        result = service.import_file(_write(tmp_path / "day.csv", APPENDS))
    assert result.inserted == 10
    assert len(seen) >= 3  # early refreshes inside the transaction, then the commit's
    assert_equal_to_a_rebuild(engine)
