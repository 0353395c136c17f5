"""``db prune-ledger --before DATE``: old ledger rows go, and no deleted trade comes back.

Both databases, through the real command line for the prune and ``verify``, and the import
service for the reads: after the prune an old execution whose trade still exists is a
duplicate (or a conflict), one whose trade was deleted before the prune is remembered by
its kept ledger row, and one deleted after it is refused as ``before_retention_horizon``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, text

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.importing.service import ImportService
from support.processes import run_cli
from support.trips import row, write

DAY = datetime(2025, 1, 28, 10, 0, 0)  # New York wall clock, the settings' zone
OLD = DAY - timedelta(days=2)


def _cli(database_url: str, *args: str) -> tuple[int, str, str]:
    done = run_cli(
        *args,
        "--database",
        database_url,
        "--source-timezone",
        "America/New_York",
        "--instance-name",
        "test-host",
    )
    return done.returncode, done.stdout, done.stderr


def _ids(engine: Engine, table: str) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(text(f"SELECT execution_id FROM {table}")).scalars())  # noqa: S608


def _delete_trade(engine: Engine, execution_id: str) -> None:
    """A trade deleted by hand, as a user does (its ledger row, if any, stays)."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "DELETE FROM round_trip_fills WHERE round_trip_id IN (SELECT round_trip_id "
                "FROM round_trip_fills WHERE execution_id = :id)"
            ),
            {"id": execution_id},
        )
        conn.execute(text("DELETE FROM trades WHERE execution_id = :id"), {"id": execution_id})


def test_prune_keeps_exactly_once_and_refuses_what_was_deleted_after_it(
    engine: Engine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    """E1 and E2 are old with trades (ledger rows pruned), E3 old and deleted before the
    prune (ledger row kept), N1 new. E2 deleted after the prune: reading the old file
    again stores nothing, refuses E2 with a reason, and ``verify`` passes."""
    old = write(
        tmp_path / "old.csv",
        [
            row("E1", "Buy", 1, "21500", OLD),
            row("E2", "Sell", 1, "21510", OLD + timedelta(minutes=1)),
            row("E3", "Buy", 1, "21520", OLD + timedelta(minutes=2)),
        ],
    )
    new = write(tmp_path / "new.csv", [row("N1", "Sell", 1, "21530", DAY)])
    service = ImportService(engine, settings)
    assert service.import_file(old, final_line_ok=True).inserted == 3
    assert service.import_file(new, final_line_ok=True).inserted == 1
    _delete_trade(engine, "E3")

    code, out, err = _cli(database_url, "db", "prune-ledger", "--before", DAY.date().isoformat())
    assert code == 0, err
    assert out.startswith("pruned 2 ledger rows of executions before 2025-01-28T05:00:00Z")
    assert _ids(engine, "imported_executions") == {"E3", "N1"}
    _delete_trade(engine, "E2")

    again = service.import_file(old, reread=True, final_line_ok=True)
    assert (again.inserted, again.duplicates, again.rejected) == (0, 2, 1), again
    assert _ids(engine, "trades") == {"E1", "N1"}  # E2 and E3 stay deleted
    with engine.connect() as conn:
        reasons = conn.execute(text("SELECT reason, line FROM import_rejections")).all()
    assert [tuple(r) for r in reasons] == [("before_retention_horizon", 3)]

    # A pruned execution read again with other content is a conflict, never a new trade.
    changed = write(tmp_path / "changed.csv", [row("E1", "Buy", 1, "99999", OLD)])
    result = service.import_file(changed, final_line_ok=True)
    assert (result.inserted, result.conflicts) == (0, 1), result

    # The trades deleted by hand left their round trips stale (verify fails on that).
    assert run_cli("round-trips", "--rebuild", "--database", database_url).returncode == 0
    code, out, err = _cli(database_url, "verify", str(old), str(new), "--json")
    assert code == 0, out + err
    totals = json.loads(out)["totals"]
    assert (totals["missing"], totals["before_horizon"], totals["deleted"]) == (0, 1, 1)


def test_the_horizon_never_moves_back(
    engine: Engine, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    """A later prune with an earlier date keeps the later horizon: an old execution that
    was never imported is refused either way."""
    for day in ("2025-01-28", "2025-01-01"):
        code, _, err = _cli(database_url, "db", "prune-ledger", "--before", day)
        assert code == 0, err
    unknown = write(tmp_path / "late.csv", [row("L1", "Buy", 1, "21500", OLD)])
    result = ImportService(engine, settings).import_file(unknown, final_line_ok=True)
    assert (result.inserted, result.rejected) == (0, 1), result
