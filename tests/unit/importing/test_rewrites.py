"""A file without IDs saved over with a fill edited is reported, never counted twice.

On SQLite and PostgreSQL, through the import service and the real ``status`` and
``verify`` commands: the export is read; then saved over in place with one price edited.
The edited row has a new stand-in, so it is held back (rejected as ``rewritten``), the
checkpoint says ``rewritten``, ``status --json`` shows the problem and ``verify`` fails on
it. A later export of a longer range over the same file (every fill read before, and new
ones after them) imports the new fills; ``import --reread`` takes the file as it is.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, select

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db.tables import FILES, REJECTIONS, TRADES
from csv_import_daemon.importing.rewrites import GAVE
from csv_import_daemon.importing.service import ImportService
from support.processes import run_cli

HEADER = "Account,Instrument,Action,Quantity,Price,Time,E/X,Position,Name,Commission"
LINES = [
    "Sim101,MNQ MAR25,Buy,1,16793,1/28/2025 1:10:38 PM,Entry,1 L,Entry,$0.52",
    "Sim101,MNQ MAR25,Buy,1,16793,1/28/2025 1:10:51 PM,Entry,2 L,Entry,$0.52",
    "Sim101,MNQ MAR25,Sell,2,16801.25,1/28/2025 1:12:03 PM,Exit,-,Target,$1.04",
]
LATER = "Sim101,MNQ MAR25,Buy,1,16790.5,1/28/2025 2:30:00 PM,Entry,1 L,Entry,$0.52"


def save_over(path: Path, lines: list[str]) -> Path:
    """Write in place (same inode), as an editor or a sync tool does."""
    with open(path, "r+b") as f:
        f.truncate(0)
        f.write(("\r\n".join([HEADER, *lines]) + "\r\n").encode())
    return path


def cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    done = run_cli(*args, "--database", settings.database_url, "--instance-name", "test-host")
    return done.returncode, done.stdout, done.stderr


def stored(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(TRADES.c.action, TRADES.c.price))
        return sorted((action, format(price.normalize(), "f")) for action, price in rows)


def test_a_fill_edited_in_a_file_without_ids_is_held_back_and_reported(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """The edited Sell is not stored beside the one read before; status and verify say
    ``rewritten``; an export of a longer range over it imports only the new fill."""
    service = ImportService(engine, settings)
    path = tmp_path / "export.csv"
    path.write_bytes(b"")
    save_over(path, LINES)
    assert service.import_file(path, final_line_ok=True).inserted == 3

    edited = [*LINES[:2], LINES[2].replace("16801.25", "16802.25")]
    result = service.import_file(save_over(path, edited), final_line_ok=True)
    assert (result.inserted, result.rejected) == (0, 1)
    assert stored(engine) == [("Buy", "16793"), ("Buy", "16793"), ("Sell", "16801.25")]
    with engine.connect() as conn:
        status, reason = conn.execute(select(FILES.c.status, FILES.c.last_error)).one()
        rejected = conn.execute(select(REJECTIONS.c.line, REJECTIONS.c.reason)).all()
    assert status == "rewritten"
    assert "1 fill(s) read from this file before are no longer in it" in reason
    assert [tuple(r) for r in rejected] == [(4, "rewritten")]

    code, out, err = cli(settings, "status", "--json")
    assert code == 0, err
    (entry,) = json.loads(out)["files"]
    assert (entry["problem"], entry["status"]) == ("rewritten", "rewritten")
    code, out, err = cli(settings, "verify", "--json", str(path))
    assert code == 1, (out, err)
    (audit,) = json.loads(out)["files"]
    assert (audit["status"], audit["missing"]) == ("rewritten", [])

    # The original content back, plus a later fill: a longer range exported over it.
    result = service.import_file(save_over(path, [*LINES, LATER]), final_line_ok=True)
    assert (result.inserted, result.rejected) == (1, 0)
    assert len(stored(engine)) == 4
    with engine.connect() as conn:
        assert conn.scalar(select(FILES.c.status)) == "ok"


def test_what_a_file_gave_is_looked_up_by_index_not_a_scan(
    engine: Engine, settings: Settings
) -> None:
    """The check of a file without IDs saved over reads the trades it gave: on SQLite the
    plan searches an index instead of scanning every trade of the journal."""
    if engine.dialect.name != "sqlite":
        return  # PostgreSQL's planner may scan a small table whatever its indexes
    statement = str(GAVE.compile(dialect=engine.dialect))
    with engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, ("/x.csv",)).all()
    assert [row[-1] for row in plan] == [
        "SEARCH trades USING INDEX ix_trades_source_file_executed_at (source_file=?)"
    ]
