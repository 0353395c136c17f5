"""Round-trip test helpers: fills in New York wall clock, files, imports, rebuild checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from csv_import_daemon.config.point_values import PointValues
from csv_import_daemon.config.settings import Settings
from csv_import_daemon.importing import file_transaction, write_session
from csv_import_daemon.importing.service import ImportService
from csv_import_daemon.trips.refresh import Refreshed, rebuild_round_trips
from support.rows import clock, grid_line, write_lines
from support.trip_reference import normalized, reference_round_trips, stored_round_trips, trades_of

DAY1 = datetime(2025, 1, 28, 10, 0, 0)  # New York wall clock (the settings' source zone)


def row(
    eid: str,
    action: str,
    qty: int,
    price: str,
    when: datetime,
    *,
    flag: str = "",
    account: str = "Sim101",
    instrument: str = "MNQ MAR25",
    commission: str = "$0.00",
) -> str:
    return grid_line(
        execution_id=eid,
        action=action,
        quantity=qty,
        price=price,
        time=clock(when),
        entry_exit=flag,
        order_id="o1",
        name="n",
        commission=commission,
        account=account,
        instrument=instrument,
    )


def write(path: Path, rows: list[str]) -> Path:
    return write_lines(path, rows)


def import_all(engine: Engine, settings: Settings, *paths: Path) -> None:
    service = ImportService(engine, settings)
    for p in paths:
        assert service.import_file(p).status == "imported"


@contextmanager
def refreshes() -> Iterator[list[Refreshed]]:
    """Every refresh the transactions run, as they return it (the real function runs):
    mid-file ones (``file_transaction``) and those at commits (``write_session``)."""
    seen: list[Refreshed] = []
    real = getattr(file_transaction, "refresh_round_trips")  # noqa: B009

    def spy(*args: Any, **kwargs: Any) -> Refreshed:
        result = real(*args, **kwargs)
        seen.append(result)
        return result

    setattr(file_transaction, "refresh_round_trips", spy)  # noqa: B010
    setattr(write_session, "refresh_round_trips", spy)  # noqa: B010
    try:
        yield seen
    finally:
        setattr(file_transaction, "refresh_round_trips", real)  # noqa: B010
        setattr(write_session, "refresh_round_trips", real)  # noqa: B010


def assert_equal_to_a_rebuild(engine: Engine) -> None:
    """The tables the imports left == what ``--rebuild`` computes from trades, exactly."""
    assert_tables_equal_a_rebuild(engine)
    assert normalized(stored_round_trips(engine)) == normalized(
        reference_round_trips(trades_of(engine))
    )


def assert_tables_equal_a_rebuild(engine: Engine) -> None:
    """Both round-trip tables as stored == what a rebuild writes (rolled back after)."""
    with engine.connect() as conn, conn.begin() as tx:
        kept = _tables(conn)
        rebuild_round_trips(conn, PointValues())
        rebuilt = _tables(conn)
        tx.rollback()  # the journal keeps what the imports left
    assert kept == rebuilt


def _tables(conn: Connection) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    """The round-trip tables as stored (SQLite's decimal text as is), without the generated
    IDs: round trips, their parts, the open round trips' FIFO state, and their bookings per
    hour and commission currency (an append may add a row where a rebuild has one)."""
    trips = conn.exec_driver_sql(
        "SELECT account, instrument, direction, opened_at, closed_at, quantity, open_quantity, "
        "entry_price, exit_price, points, pnl, commission, net_pnl, currency FROM round_trips "
        "ORDER BY account, instrument, opened_at"
    ).all()
    parts = conn.exec_driver_sql(
        "SELECT t.account, t.instrument, t.opened_at, f.seq, f.execution_id, f.quantity, "
        "f.commission, f.role FROM round_trip_fills f JOIN round_trips t "
        "ON t.id = f.round_trip_id ORDER BY t.account, t.instrument, t.opened_at, f.seq"
    ).all()
    states = [
        (*r[:3], _state_values(r[3]))
        for r in conn.exec_driver_sql(
            "SELECT t.account, t.instrument, t.opened_at, s.state FROM round_trip_state s "
            "JOIN round_trips t ON t.id = s.round_trip_id"
        ).all()
    ]
    bookings = conn.exec_driver_sql(
        "SELECT t.account, t.instrument, t.opened_at, b.account, b.contract, b.instrument, "
        "b.commission_currency, b.utc_hour, sum(b.points), sum(b.commission), max(b.charged), "
        "max(b.places), sum(b.parts) FROM round_trip_bookings b JOIN round_trips t "
        "ON t.id = b.round_trip_id GROUP BY t.id, t.account, t.instrument, t.opened_at, "
        "b.account, b.contract, b.instrument, b.commission_currency, b.utc_hour"
    ).all()
    # Sorted on every column: round trips opened in the same second tie on the ORDER BY,
    # and PostgreSQL returns tied rows in any order.
    return _sorted(trips), _sorted(parts), _sorted(states), _sorted(bookings)


def _sorted(rows: Any) -> list[Any]:
    return sorted((tuple(r) for r in rows), key=lambda r: ["" if v is None else str(v) for v in r])


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real command in a subprocess (no CSV_IMPORT_* from this environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSV_IMPORT_")}
    return subprocess.run(
        [sys.executable, "-m", "csv_import_daemon", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def cli_json(*args: str) -> Any:
    """A command's ``--json`` output, parsed; the command must succeed."""
    done = cli(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _state_values(text: str) -> str:
    """A state row by value: PostgreSQL reads prices back at NUMERIC's scale (20000.00000000)
    where an append keeps the file's (20000), so decimals compare normalized."""
    state = json.loads(text)
    for name in ("entry_cost", "exit_cost", "gained", "commission"):
        state[name] = str(Decimal(state[name]).normalize())
    state["lots"] = [[q, str(Decimal(p).normalize())] for q, p in state["lots"]]
    return json.dumps(state, sort_keys=True)
