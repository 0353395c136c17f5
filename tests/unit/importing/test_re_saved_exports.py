"""Files without IDs, against a real database: a re-saved export adds nothing, and a journal
of release 0.2.0 (stand-ins from the row's text) upgrades without doubling.

On SQLite and PostgreSQL: the export is read, then a spreadsheet's re-save of it (24-hour
times without seconds, trailing zeros, money without its sign, Account moved, Position
hidden) is read as a copy and saved over the original: every fill is a duplicate, none a
conflict, the stored seconds stay. For the upgrade, a journal at revision 0008 is given
the stand-ins 0.2.0 made; revision 0009 renames them, and reading the file again, or its
re-save, stores nothing; a trade deleted before the upgrade stays deleted.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db import migrate
from csv_import_daemon.db.engine import make_engine
from csv_import_daemon.db.tables import LEDGER, TRADES
from csv_import_daemon.importing.result import ImportResult
from csv_import_daemon.importing.service import ImportService
from csv_import_daemon.parsing.row_parser import Execution, RowParser, sniff_layout, split_lines
from csv_import_daemon.parsing.stand_ins import legacy_stand_in_id

HEADER = "Account,Instrument,Action,Quantity,Price,Time,E/X,Position,Name,Commission"
LINES = [
    "Sim101,MNQ MAR25,Buy,1,16793,1/28/2025 1:10:38 PM,Entry,1 L,Entry,$0.52",
    "Sim101,MNQ MAR25,Buy,1,16793,1/28/2025 1:10:51 PM,Entry,2 L,Entry,$0.52",
    "Sim101,MNQ MAR25,Sell,2,16801.25,1/28/2025 1:12:03 PM,Exit,-,Target,$1.04",
    "Sim101,MNQ MAR25,Buy,1,16790.5,2/3/2025 9:30:00 AM,Entry,1 L,Entry,$0.52",
]
RE_SAVED_HEADER = "Instrument,Action,Quantity,Price,Time,E/X,Name,Commission,Account"
RE_SAVED = [
    "MNQ MAR25,Buy,1,16793.00,1/28/2025 13:10,Entry,Entry,0.52,Sim101",
    "MNQ MAR25,Buy,1,16793.00,1/28/2025 13:10,Entry,Entry,0.52,Sim101",
    "MNQ MAR25,Sell,2,16801.25,1/28/2025 13:12,Exit,Target,1.04,Sim101",
    "MNQ MAR25,Buy,1,16790.50,2/3/2025 9:30,Entry,Entry,0.52,Sim101",
]
OLD_REVISION = "0008_file_ctime"


def write_csv(path: Path, header: str, lines: list[str]) -> Path:
    path.write_bytes(("\r\n".join([header, *lines]) + "\r\n").encode())
    return path


def counts(result: ImportResult) -> tuple[int, int, int, int]:
    return result.inserted, result.duplicates, result.rejected, result.conflicts


def trade_ids(engine: Engine) -> dict[int, str]:
    """Source line -> execution ID of every trade."""
    with engine.connect() as conn:
        rows = conn.execute(select(TRADES.c.source_line, TRADES.c.execution_id))
        return dict(rows.all())


def ledger_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(LEDGER.c.execution_id)).scalars())


def test_a_re_saved_export_without_ids_adds_nothing(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Read as a copy, then saved over the original: duplicates only, the seconds kept."""
    service = ImportService(engine, settings)
    original = write_csv(tmp_path / "export.csv", HEADER, LINES)
    assert counts(service.import_file(original, final_line_ok=True)) == (4, 0, 0, 0)
    with engine.connect() as conn:
        times = sorted(conn.execute(select(TRADES.c.executed_at)).scalars())

    copy = write_csv(tmp_path / "export (excel).csv", RE_SAVED_HEADER, RE_SAVED)
    assert counts(service.import_file(copy, final_line_ok=True)) == (0, 4, 0, 0)
    shutil.copyfile(copy, original)
    assert counts(service.import_file(original, final_line_ok=True)) == (0, 4, 0, 0)

    with engine.connect() as conn:
        assert sorted(conn.execute(select(TRADES.c.executed_at)).scalars()) == times
        assert conn.scalar(text("SELECT count(*) FROM import_rejections")) == 0
    assert len(trade_ids(engine)) == 4


def todays_ids(settings: Settings) -> dict[int, str]:
    """Source line -> the stand-in today's parser gives each row of the export."""
    layout = sniff_layout(HEADER)
    parser = RowParser(layout, "mdy", settings.tz)
    parsed = [
        parser.parse(fields, line, raw)
        for line, (fields, raw) in enumerate(
            zip(split_lines(LINES, layout), LINES, strict=True), start=2
        )
    ]
    return {ex.line: ex.execution_id for ex in parsed if isinstance(ex, Execution)}


def test_the_re_save_read_first_then_the_original_adds_nothing(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """The coarser times stored first: the original's seconds within those minutes replace
    them (9:30:00, written with seconds, equals its minute), no conflict, no new fill."""
    service = ImportService(engine, settings)
    original = write_csv(tmp_path / "export.csv", HEADER, LINES)
    assert counts(service.import_file(original, final_line_ok=True)) == (4, 0, 0, 0)
    exact = sorted(trade_ids(engine).values()), times(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM trades"))
        conn.execute(text("DELETE FROM imported_executions"))
        conn.execute(text("DELETE FROM import_files"))
    copy = write_csv(tmp_path / "export (excel).csv", RE_SAVED_HEADER, RE_SAVED)
    assert counts(service.import_file(copy, final_line_ok=True)) == (4, 0, 0, 0)
    result = service.import_file(original, reread=True, final_line_ok=True)
    assert (*counts(result), result.replaced) == (0, 1, 0, 0, 3)
    assert (sorted(trade_ids(engine).values()), times(engine)) == exact


def times(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(TRADES.c.executed_at)).scalars())


def journal_of_0_2_0(
    settings: Settings, path: Path, lines: list[str]
) -> tuple[Engine, dict[int, str]]:
    """A journal at revision 0008 holding ``lines`` (an export of ``HEADER``) under 0.2.0's
    stand-ins (a hash of each row's text)."""
    engine = make_engine(settings)
    migrate.upgrade(engine, OLD_REVISION)
    write_csv(path, HEADER, lines)
    # Today's import writes the contracts of revision 0010, the checkpoint pins of 0011, the
    # open round trips' state of 0012, the commission currencies of 0013 and 0014 and the
    # commission sources of 0017 and the bookings of 0018: those, for it only.
    added = [
        ("trades", "contract VARCHAR(60)"),
        ("trades", "commission_currency VARCHAR(3)"),
        ("trades", "commission_source VARCHAR(20)"),
        ("round_trips", "contract VARCHAR(60)"),
        ("round_trips", "commission_currency VARCHAR(3)"),
        ("import_files", "pinned_date_order VARCHAR(3)"),
        ("import_files", "pinned_decimal_mark VARCHAR(1)"),
    ]
    with engine.begin() as conn:
        for table, column in added:
            conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column}"))
        conn.execute(
            text("CREATE TABLE round_trip_state (round_trip_id INTEGER PRIMARY KEY, state TEXT)")
        )
        conn.execute(  # the bookings of 0017
            text(
                "CREATE TABLE round_trip_bookings (account TEXT, contract TEXT, instrument TEXT, "
                "commission_currency TEXT, utc_hour INTEGER, round_trip_id INTEGER, "
                "seq INTEGER, points BIGINT, commission BIGINT, charged INTEGER, "
                "places INTEGER, parts INTEGER)"
            )
        )
    ImportService(engine, settings).import_file(path, final_line_ok=True)
    with engine.begin() as conn:
        for table, column in added:
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column.split()[0]}"))
        conn.execute(text("DROP TABLE round_trip_state"))
        conn.execute(text("DROP TABLE round_trip_bookings"))
    layout = sniff_layout(HEADER)
    occurrences: dict[str, int] = {}
    legacy = {
        line: legacy_stand_in_id(occurrences, fields)
        for line, fields in enumerate(split_lines(lines, layout), start=2)
    }
    with engine.begin() as conn:
        for line, current in trade_ids(engine).items():
            for table in ("trades", "imported_executions", "round_trip_fills"):
                conn.execute(
                    text(f"UPDATE {table} SET execution_id = :old WHERE execution_id = :new"),  # noqa: S608
                    {"old": legacy[line], "new": current},
                )
    assert set(ledger_ids(engine)) == set(legacy.values())
    return engine, legacy


@pytest.fixture
def old_journal(
    settings: Settings, tmp_path: Path
) -> Iterator[tuple[Engine, Path, dict[int, str]]]:
    """``journal_of_0_2_0`` of the export, the Sell (line 4) deleted by hand: its ledger
    row alone remains."""
    path = tmp_path / "export.csv"
    engine, legacy = journal_of_0_2_0(settings, path, LINES)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM trades WHERE source_line = 4"))
    yield engine, path, legacy
    engine.dispose()


def test_an_upgraded_journal_without_ids_does_not_double(
    old_journal: tuple[Engine, Path, dict[int, str]], settings: Settings, tmp_path: Path
) -> None:
    """Revision 0009 gives each stored stand-in the ID today's reading gives, in trades,
    ledger and round trips; the file read again stores nothing (the deleted Sell, known
    only by its old ledger row, stays deleted), nor does a re-save of the kept fills."""
    engine, path, legacy = old_journal
    migrate.upgrade(engine)

    today = todays_ids(settings)
    assert trade_ids(engine) == {line: today[line] for line in (2, 3, 5)}
    assert ledger_ids(engine) == {today[2], today[3], today[5], legacy[4]}
    with engine.connect() as conn:
        parts = set(conn.execute(text("SELECT execution_id FROM round_trip_fills")).scalars())
    # (revision 0010 rebuilds the round trips from trades: the Sell deleted by hand is gone)
    assert parts == {today[2], today[3], today[5]}

    service = ImportService(engine, settings)
    assert counts(service.import_file(path, reread=True, final_line_ok=True)) == (0, 4, 0, 0)
    kept = [RE_SAVED[0], RE_SAVED[1], RE_SAVED[3]]
    copy = write_csv(tmp_path / "export (excel).csv", RE_SAVED_HEADER, kept)
    assert counts(service.import_file(copy, final_line_ok=True)) == (0, 3, 0, 0)
    assert len(trade_ids(engine)) == 3


def test_an_upgraded_day_first_journal_of_iso_times_does_not_double(
    settings: Settings, tmp_path: Path
) -> None:
    """ISO times ('2025-02-03', 3 February) in a journal read day-first: 0.2.0's stand-ins
    are not renamed on a guess about how the date was written (only the stored trade is
    left), and reading the file again stores nothing."""
    import dataclasses  # noqa: PLC0415

    day_first = dataclasses.replace(settings, date_order="dmy")
    lines = [
        "Sim101,MNQ MAR25,Buy,1,16793,2025-02-03 13:10:38,Entry,1 L,Entry,$0.52",
        "Sim101,MNQ MAR25,Sell,1,16801.25,2025-02-03 13:12:03,Exit,-,Target,$0.52",
    ]
    path = tmp_path / "iso.csv"
    engine, legacy = journal_of_0_2_0(day_first, path, lines)
    try:
        migrate.upgrade(engine)
        assert set(trade_ids(engine).values()) == set(legacy.values())
        service = ImportService(engine, day_first)
        assert counts(service.import_file(path, reread=True, final_line_ok=True)) == (0, 2, 0, 0)
        assert len(trade_ids(engine)) == 2
    finally:
        engine.dispose()
