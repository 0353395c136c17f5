"""Stand-in counts when a file without IDs is read on from its checkpoint.

The import service keeps the counts its parser ended with, valid only at the checkpoint it
committed; a file read on by another service (another process) since, or rewritten, is
replayed from its first row. Real SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db.tables import TRADES
from csv_import_daemon.importing.service import ImportService
from csv_import_daemon.parsing.row_parser import Execution, RowParser, sniff_layout, split_lines

HEADER = "Account,Instrument,Action,Quantity,Price,Time,E/X,Position,Name,Commission"
# Fills of one meaning within one minute: only their count in the file tells them apart.
SAME = "Sim101,MNQ 06-26,Buy,1,21000,5/13/2026 1:10:{:02d} PM,Entry,-,Entry,$0.52"


def stand_ins(lines: list[str], settings: Settings) -> set[str]:
    layout = sniff_layout(HEADER)
    parser = RowParser(layout, "mdy", settings.tz)
    rows = zip(split_lines(lines, layout), lines, strict=True)
    parsed = [parser.parse(fields, n, raw) for n, (fields, raw) in enumerate(rows, start=2)]
    return {ex.execution_id for ex in parsed if isinstance(ex, Execution)}


def stored(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(TRADES.c.execution_id)).scalars())


def append(path: Path, lines: list[str]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in lines)


def test_appends_read_by_turns_by_two_services_count_every_fill(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """A reads two fills, B the next two, A the fifth: A's own counts (two) are stale, so it
    replays, and each of the five fills of one meaning in one minute is stored once."""
    path = tmp_path / "NinjaTrader_Executions_20260513.csv"
    lines = [SAME.format(second) for second in range(5)]
    path.write_text(HEADER + "\n", encoding="utf-8")
    a, b = ImportService(engine, settings), ImportService(engine, settings)
    for service, part in ((a, lines[:2]), (b, lines[2:4]), (a, lines[4:]), (a, [])):
        append(path, part)
        result = service.import_file(path, final_line_ok=True)
        assert (result.inserted, result.duplicates, result.conflicts) == (len(part), 0, 0)
    assert stored(engine) == stand_ins(lines, settings)
    assert len(stored(engine)) == 5
