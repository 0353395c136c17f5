"""Times written without seconds (a spreadsheet's re-save), against a real database.

A time whose text has no seconds field matches a stored time within its minute, whichever
is read first: read after the exact one it is a duplicate; read before it, the exact time
replaces it when it comes (a correction in ``trade_corrections``, round trips follow).
A time written with seconds, ``:00`` included, is compared exactly. SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, select, text

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db import migrate
from csv_import_daemon.db.engine import make_engine
from csv_import_daemon.db.tables import CORRECTIONS, LEDGER, ROUND_TRIPS, TRADES
from csv_import_daemon.importing.result import ImportResult
from csv_import_daemon.importing.service import ImportService
from support.processes import journal_cli

NO_IDS = "Account,Instrument,Action,Quantity,Price,Time,E/X,Position,Name,Commission"
WITH_IDS = "Account,Instrument,Action,Quantity,Price,Time,ID,E/X,Position,Name,Commission"


def write(path: Path, header: str, lines: list[str]) -> Path:
    path.write_bytes(("\r\n".join([header, *lines]) + "\r\n").encode())
    return path


def counts(result: ImportResult) -> tuple[int, int, int, int, int]:
    return result.inserted, result.duplicates, result.rejected, result.conflicts, result.replaced


def times(engine: Engine) -> list[datetime]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(TRADES.c.executed_at)).scalars())


def test_the_original_read_after_its_re_save_gives_its_seconds(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """The re-save ('05/13/2026 13:10') is read first: the original's 13:10:38 replaces the
    whole minute, recorded as a correction, the round trip moved with it; no second fill."""
    service = ImportService(engine, settings)
    re_saved = [
        "Sim101,MNQ 06-26,Buy,1,21000,05/13/2026 13:10,Entry,1 L,Entry,0.52",
        "Sim101,MNQ 06-26,Sell,1,21010,05/13/2026 13:12,Exit,-,Exit,0.52",
    ]
    original = [
        "Sim101,MNQ 06-26,Buy,1,21000,5/13/2026 1:10:38 PM,Entry,1 L,Entry,$0.52",
        "Sim101,MNQ 06-26,Sell,1,21010,5/13/2026 1:12:00 PM,Exit,-,Exit,$0.52",
    ]
    copy = write(tmp_path / "grid (excel).csv", NO_IDS, re_saved)
    assert counts(service.import_file(copy, final_line_ok=True)) == (2, 0, 0, 0, 0)
    path = write(tmp_path / "grid.csv", NO_IDS, original)
    # 13:10:38 corrects the minute; 13:12:00, written with seconds, equals its minute.
    assert counts(service.import_file(path, final_line_ok=True)) == (0, 1, 0, 0, 1)

    # 13:10:38 and 13:12:00 in New York (EDT) are 17:10:38 and 17:12:00 UTC.
    assert times(engine) == [datetime(2026, 5, 13, 17, 10, 38), datetime(2026, 5, 13, 17, 12)]
    with engine.connect() as conn:
        fixes = conn.execute(
            select(CORRECTIONS.c.field, CORRECTIONS.c.old_value, CORRECTIONS.c.new_value)
        ).all()
        trip = conn.execute(select(ROUND_TRIPS.c.opened_at, ROUND_TRIPS.c.closed_at)).one()
        rejected = conn.scalar(text("SELECT count(*) FROM import_rejections"))
    assert [(f, o[:19], n[:19]) for f, o, n in fixes] == [
        ("executed_at", "2026-05-13 17:10:00", "2026-05-13 17:10:38")
    ]
    assert tuple(trip) == (datetime(2026, 5, 13, 17, 10, 38), datetime(2026, 5, 13, 17, 12))
    assert rejected == 0

    # Read again, either file adds nothing and changes nothing.
    assert counts(service.import_file(copy, reread=True, final_line_ok=True)) == (0, 2, 0, 0, 0)
    assert counts(service.import_file(path, reread=True, final_line_ok=True)) == (0, 2, 0, 0, 0)
    assert times(engine) == [datetime(2026, 5, 13, 17, 10, 38), datetime(2026, 5, 13, 17, 12)]


def test_with_ids_the_re_save_read_first_takes_the_seconds_later(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    service = ImportService(engine, settings)
    copy = write(
        tmp_path / "grid (excel).csv",
        WITH_IDS,
        ["Sim101,MNQ 06-26,Buy,1,21000,05/13/2026 13:10,701,Entry,1 L,Entry,0.52"],
    )
    assert counts(service.import_file(copy, final_line_ok=True)) == (1, 0, 0, 0, 0)
    path = write(
        tmp_path / "grid.csv",
        WITH_IDS,
        ["Sim101,MNQ 06-26,Buy,1,21000,5/13/2026 1:10:38 PM,701,Entry,1 L,Entry,$0.52"],
    )
    assert counts(service.import_file(path, final_line_ok=True)) == (0, 0, 0, 0, 1)
    assert times(engine) == [datetime(2026, 5, 13, 17, 10, 38)]


def test_a_time_written_with_seconds_is_compared_exactly(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """With IDs: 13:10:00 written with seconds is not 13:10:38 (a conflict, the stored row
    wins), nor the other way round; only '13:10' without seconds matches within the minute."""
    service = ImportService(engine, settings)
    row = "Sim101,MNQ 06-26,Buy,1,21000,{},{},Entry,1 L,Entry,$0.52"
    first = write(
        tmp_path / "a.csv",
        WITH_IDS,
        [row.format("5/13/2026 1:10:38 PM", 801), row.format("5/13/2026 1:20:00 PM", 802)],
    )
    assert counts(service.import_file(first, final_line_ok=True)) == (2, 0, 0, 0, 0)
    second = write(
        tmp_path / "b.csv",
        WITH_IDS,
        [row.format("5/13/2026 1:10:00 PM", 801), row.format("5/13/2026 1:20:38 PM", 802)],
    )
    assert counts(service.import_file(second, final_line_ok=True)) == (0, 0, 0, 2, 0)
    re_saved = write(
        tmp_path / "c.csv",
        WITH_IDS,
        [row.format("05/13/2026 13:10", 801), row.format("05/13/2026 13:20", 802)],
    )
    assert counts(service.import_file(re_saved, final_line_ok=True)) == (0, 2, 0, 0, 0)
    assert times(engine) == [datetime(2026, 5, 13, 17, 10, 38), datetime(2026, 5, 13, 17, 20)]
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM trade_corrections")) == 0


def test_a_repair_from_a_re_save_keeps_the_stored_seconds(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """``--reread --replace`` of a file written without seconds takes its other values, but
    never replaces 13:10:38 by its whole minute; its own whole minutes are taken later."""
    service = ImportService(engine, settings)
    path = write(
        tmp_path / "grid.csv",
        WITH_IDS,
        ["Sim101,MNQ 06-26,Buy,1,21000,5/13/2026 1:10:38 PM,901,Entry,1 L,Entry,$0.52"],
    )
    assert counts(service.import_file(path, final_line_ok=True)) == (1, 0, 0, 0, 0)
    write(
        path,
        WITH_IDS,
        [
            "Sim101,MNQ 06-26,Buy,1,21000.25,05/13/2026 13:10,901,Entry,1 L,Entry,0.52",
            "Sim101,MNQ 06-26,Sell,1,21001,05/13/2026 13:11,902,Exit,-,Exit,0.52",
        ],
    )
    result = service.import_file(path, reread=True, replace=True, final_line_ok=True)
    assert counts(result) == (1, 0, 0, 0, 1)
    assert times(engine) == [datetime(2026, 5, 13, 17, 10, 38), datetime(2026, 5, 13, 17, 11)]
    with engine.connect() as conn:
        fixes = conn.execute(select(CORRECTIONS.c.field)).scalars().all()
    assert fixes == ["price"]
    later = write(
        tmp_path / "b.csv",
        WITH_IDS,
        ["Sim101,MNQ 06-26,Sell,1,21001,5/13/2026 1:11:07 PM,902,Exit,-,Exit,$0.52"],
    )
    assert counts(service.import_file(later, final_line_ok=True)) == (0, 0, 0, 0, 1)
    assert times(engine) == [datetime(2026, 5, 13, 17, 10, 38), datetime(2026, 5, 13, 17, 11, 7)]


def test_a_repair_from_a_re_save_keeps_an_exact_whole_minute_exact(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """13:10:00 written with seconds is exact; a repair from a re-save ('13:10', another
    price) keeps it exact, so a later 13:10:38 is a conflict, never taken for its seconds."""
    service = ImportService(engine, settings)
    row = "Sim101,MNQ 06-26,Buy,1,{},{},903,Entry,1 L,Entry,$0.52"
    path = write(tmp_path / "grid.csv", WITH_IDS, [row.format(21000, "5/13/2026 1:10:00 PM")])
    assert counts(service.import_file(path, final_line_ok=True)) == (1, 0, 0, 0, 0)
    write(path, WITH_IDS, [row.format("21000.25", "05/13/2026 13:10")])
    repair = service.import_file(path, reread=True, replace=True, final_line_ok=True)
    assert counts(repair) == (0, 0, 0, 0, 1)
    with engine.connect() as conn:
        assert conn.scalar(select(TRADES.c.time_precision)) is None
    # Another commission alone (no compared field differs): still exact.
    write(path, WITH_IDS, [row.format("21000.25", "05/13/2026 13:10").replace("$0.52", "$0.62")])
    repair = service.import_file(path, reread=True, replace=True, final_line_ok=True)
    assert counts(repair) == (0, 0, 0, 0, 1)
    with engine.connect() as conn:
        assert conn.scalar(select(TRADES.c.time_precision)) is None
    later = write(tmp_path / "b.csv", WITH_IDS, [row.format("21000.25", "5/13/2026 1:10:38 PM")])
    assert counts(service.import_file(later, final_line_ok=True)) == (0, 0, 0, 1, 0)
    assert times(engine) == [datetime(2026, 5, 13, 17, 10)]


def test_a_whole_minute_stored_before_0015_is_never_replaced_on_a_guess(
    settings: Settings, tmp_path: Path
) -> None:
    """Whether a whole minute of an earlier release was written with seconds is not known:
    revision 0015 marks it "unknown", and another time within it is a conflict (the stored
    row wins, the user decides); a time written without seconds still matches it."""
    engine = make_engine(settings)
    try:
        migrate.upgrade(engine, "0014_trip_commission_currency")
        trade = {
            "account": "Sim101", "instrument": "MNQ 06-26", "action": "Buy", "quantity": 1,
            "price": Decimal(21000), "source_file": "/old.csv", "source_line": 2,
            "imported_at": datetime(2026, 5, 13, 18), "contract": "MNQ 06-26",
        }  # fmt: skip
        stored = {"1": datetime(2026, 5, 13, 17, 10), "2": datetime(2026, 5, 13, 17, 20, 38)}
        with engine.begin() as conn:
            for execution_id, at in stored.items():
                conn.execute(
                    TRADES.insert(), {**trade, "execution_id": execution_id, "executed_at": at}
                )
                conn.execute(
                    LEDGER.insert(), {"execution_id": execution_id, "csv_filename": "old.csv"}
                )
        migrate.upgrade(engine)
        with engine.connect() as conn:
            marks = dict(conn.execute(select(TRADES.c.execution_id, TRADES.c.time_precision)).all())
        assert marks == {"1": "unknown", "2": None}

        service = ImportService(engine, settings)
        row = "Sim101,MNQ 06-26,Buy,1,21000,{},{},Entry,1 L,Entry,$0.52"
        exact = write(tmp_path / "a.csv", WITH_IDS, [row.format("5/13/2026 1:10:38 PM", 1)])
        assert counts(service.import_file(exact, final_line_ok=True)) == (0, 0, 0, 1, 0)
        coarse = write(tmp_path / "b.csv", WITH_IDS, [row.format("05/13/2026 13:10", 1)])
        assert counts(service.import_file(coarse, final_line_ok=True)) == (0, 1, 0, 0, 0)
        assert times(engine) == list(stored.values())
        # verify names the conflict, and no zone 38 s off (it named "UTC-3.98944 h").
        zone = ("--source-timezone", settings.source_timezone)
        done = journal_cli(
            settings.database_url,
            "verify",
            "--json",
            str(exact),
            *zone,
            instance=settings.instance_name,
        )
        (audit,) = json.loads(done.stdout)["files"]
        assert [c["fields"] for c in audit["conflicts"]] == [["executed_at"]]
        assert audit["readings"] == []
    finally:
        engine.dispose()


def test_verify_of_the_original_after_only_its_re_save_names_no_conflict(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Only the re-save was imported (13:10): verify of the original (13:10:38) lists the
    row as stored to the minute, not as a conflict, as importing it gives the exact time."""
    service = ImportService(engine, settings)
    row = "Sim101,MNQ 06-26,Buy,1,21000,{},{},Entry,1 L,Entry,$0.52"
    re_saved = write(tmp_path / "b.csv", WITH_IDS, [row.format("05/13/2026 13:10", 5)])
    original = write(tmp_path / "a.csv", WITH_IDS, [row.format("5/13/2026 1:10:38 PM", 5)])
    service.import_file(re_saved, final_line_ok=True)
    zone = ("--source-timezone", settings.source_timezone)
    done = journal_cli(
        settings.database_url,
        "verify",
        "--json",
        str(original),
        *zone,
        instance=settings.instance_name,
    )
    (audit,) = json.loads(done.stdout)["files"]
    assert (audit["conflicts"], audit["readings"]) == ([], [])
    assert audit["finer"] == [{"line": 2, "execution_id": "5"}]
    shown = journal_cli(
        settings.database_url, "verify", str(original), *zone, instance=settings.instance_name
    )
    assert "line 2 ID 5 is stored as a whole minute" in shown.stdout
    assert counts(service.import_file(original, final_line_ok=True)) == (0, 0, 0, 0, 1)


def test_verify_takes_a_re_save_s_minute_for_its_exact_time(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """verify of a re-save read after its original: 13:10 is the stored 13:10:38, no
    conflict and no reading problem (it failed naming a zone 38 s off); 13:10:00 written
    with seconds still differs."""
    service = ImportService(engine, settings)
    row = "Sim101,MNQ 06-26,Buy,1,21000,{},{},Entry,1 L,Entry,$0.52"
    original = write(tmp_path / "a.csv", WITH_IDS, [row.format("5/13/2026 1:10:38 PM", 5)])
    re_saved = write(tmp_path / "b.csv", WITH_IDS, [row.format("05/13/2026 13:10", 5)])
    for path in (original, re_saved):
        service.import_file(path, final_line_ok=True)
    done = journal_cli(settings.database_url, "verify", "--json", instance="test-host")
    assert done.returncode == 0, done.stdout
    report = json.loads(done.stdout)
    assert [(f["conflicts"], f["readings"]) for f in report["files"]] == [([], [])] * 2

    exact = write(tmp_path / "c.csv", WITH_IDS, [row.format("5/13/2026 1:10:00 PM", 5)])
    service.import_file(exact, final_line_ok=True)
    done = journal_cli(settings.database_url, "verify", "--json", str(exact), instance="test-host")
    (audit,) = json.loads(done.stdout)["files"]
    assert [c["fields"] for c in audit["conflicts"]] == [["executed_at"]]
