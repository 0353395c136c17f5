"""What is particular to PostgreSQL, against a real server (a fresh database per test).

Migrations up and down with PostgreSQL's own types, the one-shot import and status, the
daemon, values PostgreSQL would refuse (lengths, NUL, NUMERIC(20, 8) overflow) as rejected
rows, and ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` counting exactly what it inserted,
also across insertmanyvalues pages and against another transaction's uncommitted row.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, inspect, text

from csv_import_daemon.config.settings import Settings, load_settings
from csv_import_daemon.db import migrate
from csv_import_daemon.db.engine import make_engine
from csv_import_daemon.importing import service as importer_module
from csv_import_daemon.importing.file_transaction import Transaction
from csv_import_daemon.importing.result import ImportResult
from csv_import_daemon.importing.service import ImportService
from csv_import_daemon.parsing.limits import LIMITS
from support.daemon import start_daemon
from support.journal import Journal
from support.paths import SAMPLES
from support.processes import run_cli
from support.rows import HEADER, append, csv_text, ids_of, make_rows, wide_rows, write_csv
from support.waiting import wait_for

pytestmark = pytest.mark.postgres

GOOD_SAMPLES = {
    "NinjaTrader_Executions_20251031.csv": 2,
    "grid-export-en-us.csv": 6,
    "grid-export-eu-semicolon.csv": 2,
    "NinjaTrader Grid 2026-08-10 06-10 PM.csv": 4,
}
R1, R2, R3 = "0001_trades", "0002_imported_executions", "0003_backfill_ledger"
R4, R5, R6 = "0004_real_world_files", "0005_round_trips", "0006_daemon_instances"
R7, R8 = "0007_ledger_retention", "0008_file_ctime"
R9 = "0009_meaning_stand_ins"
R10 = "0010_contracts"
R11 = "0011_recorded_settings"
R12 = "0012_open_lots"
R13 = "0013_commission_currency"
R14 = "0014_trip_commission_currency"
R15 = "0015_time_precision"
R16 = "0016_trades_source_file"
R17 = "0017_commission_source"
R18 = "0018_round_trip_bookings"
R19 = "0019_trades_commission_source"
HEAD = R19
TABLES = {
    None: set(),
    R1: {"trades", "import_files", "import_rejections"},
    R2: {"trades", "import_files", "import_rejections", "imported_executions"},
    R3: {"trades", "import_files", "import_rejections", "imported_executions"},
    R4: {"trades", "import_files", "import_rejections", "imported_executions", "trade_corrections"},
    R5: {
        "trades",
        "import_files",
        "import_rejections",
        "imported_executions",
        "trade_corrections",
        "round_trips",
        "round_trip_fills",
    },
    R6: {
        "trades",
        "import_files",
        "import_rejections",
        "imported_executions",
        "trade_corrections",
        "round_trips",
        "round_trip_fills",
        "daemon_instances",
    },
}
TABLES[R7] = TABLES[R6] | {"ledger_retention"}
TABLES[R8] = TABLES[R9] = TABLES[R10] = TABLES[R7]
TABLES[R11] = TABLES[R10] | {"instance_settings"}
TABLES[R12] = TABLES[R11] | {"round_trip_state"}
TABLES[R13] = TABLES[R12]
TABLES[R14] = TABLES[R15] = TABLES[R16] = TABLES[R17] = TABLES[R13]
TABLES[R18] = TABLES[R19] = TABLES[R17] | {"round_trip_bookings"}


def _settings(url: str) -> Settings:
    return load_settings(
        {
            "database_url": url,
            "source_timezone": "America/New_York",
            "instance_name": "pg-host",
            "settle": 0.0,
        },
        environ={},
    )


@pytest.fixture
def pg_settings(migrated_postgres_url: str) -> Settings:
    """Settings on a fresh PostgreSQL database already at the newest revision."""
    return _settings(migrated_postgres_url)


@pytest.fixture
def pg_engine(pg_settings: Settings) -> Iterator[Engine]:
    eng = make_engine(pg_settings)
    assert migrate.is_current(eng)
    yield eng
    eng.dispose()


def _count(engine: Engine, sql: str, **params: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar() or 0)


# -- migrations ---------------------------------------------------------------------------------


def test_each_migration_steps_up_and_down_with_postgres_types(postgres_url: str) -> None:
    """Every revision up, then every one down to base, on PostgreSQL: the right tables at
    each step, NUMERIC(20, 8) money, VARCHAR widths equal to LIMITS, nothing left at base."""
    engine = make_engine(_settings(postgres_url))
    try:
        steps = [
            *(R1, R2, R3, R4, R5, R6, R7, R8, R9, R10, R11, R12, R13, R14, R15, R16, R17, R18),
            R19,
        ]
        for rev in steps:
            migrate.upgrade(engine, rev)
            assert migrate.current(engine) == rev
            assert set(inspect(engine).get_table_names()) - {"alembic_version"} == TABLES[rev]
        cols: dict[str, Any] = {c["name"]: c["type"] for c in inspect(engine).get_columns("trades")}
        for money in ("price", "commission"):
            assert (cols[money].precision, cols[money].scale) == (20, 8)
        assert {name: cols[name].length for name in LIMITS} == LIMITS
        ledger: dict[str, Any] = {
            c["name"]: c["type"] for c in inspect(engine).get_columns("imported_executions")
        }
        assert ledger["execution_id"].length == LIMITS["execution_id"]
        uniques = {
            i["name"] for i in inspect(engine).get_indexes("imported_executions") if i["unique"]
        }
        assert uniques == {"idx_imported_executions_exec_id"}

        downs: list[str | None] = [R2, R1, None]
        for down in downs:
            migrate.downgrade(engine, down or "base")
            assert migrate.current(engine) == down
            assert set(inspect(engine).get_table_names()) - {"alembic_version"} == TABLES[down]
        # No sequence (SERIAL ids) or type outlives its table on PostgreSQL.
        with engine.connect() as conn:
            left = set(
                conn.execute(
                    text(
                        "SELECT c.relname FROM pg_class c "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = 'public' AND c.relkind IN ('S', 'r', 'i')"
                    )
                ).scalars()
            )
        assert left == {"alembic_version", "alembic_version_pkc"}
        migrate.upgrade(engine)
        assert migrate.is_current(engine)
    finally:
        engine.dispose()


def test_db_commands_and_one_shot_import_and_status_on_postgres(
    postgres_url: str, tmp_path: Path
) -> None:
    """The CLI on a PostgreSQL URL: db upgrade, import (then unchanged), status --json."""
    folder = tmp_path / "csv"
    folder.mkdir()
    for name in GOOD_SAMPLES:
        shutil.copy(SAMPLES / name, folder / name)
    common = ["--database", postgres_url, "--log-format", "json"]

    up = run_cli("db", "upgrade", *common)
    assert (up.returncode, up.stdout.strip()) == (0, HEAD), up.stderr
    first = run_cli(
        "import", str(folder), "--source-timezone", "America/New_York", "--settle", "0", *common
    )
    assert first.returncode == 0, first.stderr
    lines = {Path(line.split(": ")[0]).name: line for line in first.stdout.splitlines()}
    for name, count in GOOD_SAMPLES.items():
        assert f": imported inserted={count} duplicates=0 rejected=0" in lines[name]
    again = run_cli(
        "import", str(folder), "--source-timezone", "America/New_York", "--settle", "0", *common
    )
    assert again.returncode == 0, again.stderr
    listed = again.stdout.splitlines()
    assert listed[-1].startswith("total: 4 files (unchanged=4)")
    assert all(": unchanged inserted=0" in line for line in listed[:-1])

    status = run_cli("status", "--json", *common)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    total = sum(GOOD_SAMPLES.values())
    assert (
        report["schema_revision"],
        report["trades"],
        report["ledger"],
        report["rejections"],
    ) == (HEAD, total, total, 0)
    assert {Path(f["path"]).name: f["inserted"] for f in report["files"]} == GOOD_SAMPLES

    # Exact values through NUMERIC and TIMESTAMP: 9:30:15 AM New York is 13:30:15 UTC.
    journal = Journal(postgres_url)
    try:
        row = journal.rows(
            "SELECT price, commission, executed_at FROM trades "
            "WHERE execution_id = '7f3a9c2e1b4d4f6a8c0e2b4d6f8a0c2e'"
        )[0]
    finally:
        journal.close()
    assert row == {
        "price": Decimal("21482.50000000"),
        "commission": Decimal("0.52000000"),
        "executed_at": datetime(2025, 10, 31, 13, 30, 15),
    }
    down = run_cli("db", "downgrade", "base", "--yes", *common)
    assert (down.returncode, down.stdout.strip()) == (0, "base"), down.stderr


# -- the daemon ---------------------------------------------------------------------------------


@pytest.mark.daemon
def test_daemon_on_postgres_imports_drops_and_appends_once(
    postgres_url: str, tmp_path: Path
) -> None:
    """The daemon migrates an empty PostgreSQL database, imports a dropped file and lines
    appended to it (one arriving in two halves), once each, and stops cleanly."""
    watch = tmp_path / "watch"
    watch.mkdir()
    rows = make_rows(40)
    journal = Journal(postgres_url)
    try:
        with start_daemon(watch, postgres_url, log_dir=tmp_path) as d:
            path = write_csv(watch / "NinjaTrader_Executions_20251031.csv", rows[:20])
            wait_for(journal.ids, ids_of(rows[:20]), what="the dropped file")
            append(path, csv_text(rows[20:39], header=False) + rows[39].line[:30])
            wait_for(journal.ids, ids_of(rows[:39]), what="the appended lines")
            append(path, rows[39].line[30:] + "\n")
            wait_for(journal.ids, ids_of(rows), what="the line finished later")
            wait_for(
                lambda: (journal.checkpoint(path) or {}).get("offset"),
                path.stat().st_size,
                what="the checkpoint at the end",
            )
            assert d.stop() == 0, d.log_text()
        assert journal.trades() == journal.ledger() == len(rows)
        cp = journal.checkpoint(path)
        assert cp is not None
        assert (cp["instance"], cp["inserted"], cp["duplicates"]) == ("test-host", 40, 0)
        assert sum(e["inserted"] for e in d.events("import")) == len(rows)
        assert not d.events("import_crashed")
    finally:
        journal.close()


# -- values PostgreSQL would refuse ---------------------------------------------------------------


_COLUMN_OF = {
    "execution_id": "ID",
    "account": "Account",
    "instrument": "Instrument",
    "action": "Action",
    "entry_exit": "E/X",
    "order_id": "Order ID",
    "order_name": "Name",
    "connection": "Connection",
    "position_after": "Position",
}
_FIELDS = HEADER.split(",")


def _line(n: int, **values: str) -> str:
    """One execution line; ``values`` override columns by their header name."""
    base = {
        "Instrument": "MNQ 12-25",
        "Action": "Buy",
        "Quantity": "1",
        "Price": "21000.25",
        "Time": f"10/31/2025 9:{30 + n // 60:02}:{n % 60:02} AM",
        "ID": f"pgid{n:04}",
        "E/X": "Entry",
        "Position": "1 L",
        "Order ID": f"ord{n}",
        "Name": "Entry",
        "Commission": "$0.52",
        "Rate": "1",
        "Account": "SIM101",
        "Connection": "Simulated Data Feed",
        "": "",
    }
    base.update(values)
    return ",".join(base[f] for f in _FIELDS)


def test_values_that_do_not_fit_are_rejected_rows_not_a_failed_batch(
    pg_engine: Engine, pg_settings: Settings, tmp_path: Path
) -> None:
    """Too long for its column, NUL, NUMERIC(20, 8) overflow, too many decimals, INTEGER
    overflow: each is a rejected row with its reason; the batch's good rows are stored,
    values exactly at a limit (multi-byte characters too) are stored whole."""
    good = [
        _line(0),
        _line(1, Account="€" * LIMITS["account"]),  # 50 characters, 150 bytes
        _line(2, Account="💹" * LIMITS["account"]),  # 50 characters outside the BMP
        _line(3, Price="999999999999.99999999"),  # the largest NUMERIC(20, 8)
        _line(4, Commission="$-999999999999.5"),
        _line(5, Name="n" * LIMITS["order_name"], Connection="c" * LIMITS["connection"]),
    ]
    too_long = [
        _line(10 + i, **{_COLUMN_OF[name]: "x" * (LIMITS[name] + 1)})
        for i, name in enumerate(LIMITS)
    ]
    bad = [
        (_line(30, Name="has\x00nul"), "bad_text"),
        (_line(31, Price="1234567890123.25"), "bad_price"),  # 13 integer digits
        (_line(32, Price="1.123456789"), "bad_price"),  # 9 decimals
        (_line(33, Commission="$1234567890123.00"), "bad_commission"),
        (_line(34, Quantity="2147483648"), "bad_quantity"),  # INTEGER overflow
    ]
    path = tmp_path / "NinjaTrader_Executions_20251031.csv"
    path.write_text(
        "\n".join([HEADER, *good[:3], *too_long, *(b for b, _ in bad), *good[3:]]) + "\n",
        encoding="utf-8",
    )

    result = ImportService(pg_engine, pg_settings).import_file(path, final_line_ok=True)

    assert (result.status, result.inserted, result.rejected) == (
        "imported",
        len(good),
        len(too_long) + len(bad),
    )
    with pg_engine.connect() as conn:
        stored = {
            r.execution_id: r
            for r in conn.execute(
                text("SELECT execution_id, account, price, commission, order_name FROM trades")
            )
        }
        rejections = {
            r.line: r
            for r in conn.execute(text("SELECT line, reason, detail, raw FROM import_rejections"))
        }
    assert set(stored) == {f"pgid{n:04}" for n in range(6)}
    assert stored["pgid0001"].account == "€" * 50
    assert stored["pgid0002"].account == "💹" * 50
    assert stored["pgid0003"].price == Decimal("999999999999.99999999")
    assert stored["pgid0004"].commission == Decimal("-999999999999.5")
    lines_too_long = range(5, 5 + len(too_long))  # line 1 is the header, then 3 good rows
    for line, name in zip(lines_too_long, LIMITS, strict=True):
        if name in ("action", "entry_exit"):  # x's are no such word before too long
            assert rejections[line].reason == f"unknown_{name}"
            continue
        assert rejections[line].reason == "too_long"
        assert rejections[line].detail.startswith(f"{name} is {LIMITS[name] + 1} characters")
    for offset, (_, reason) in enumerate(bad):
        assert rejections[5 + len(too_long) + offset].reason == reason
    nul = rejections[5 + len(too_long)]
    assert "\x00" not in nul.raw
    assert "has\\x00nul" in nul.raw
    assert _count(pg_engine, 'SELECT "offset" FROM import_files') == path.stat().st_size


# -- RETURNING counts ------------------------------------------------------------------------------


def test_returning_counts_exactly_the_new_ids_across_pages(
    pg_engine: Engine, pg_settings: Settings, tmp_path: Path
) -> None:
    """A 2 500-row batch (several insertmanyvalues pages) of which every other row is already
    stored: RETURNING reports exactly the 1 250 new ones; a third file adds nothing."""
    rows = make_rows(2500)
    service = ImportService(pg_engine, pg_settings)
    first = service.import_file(write_csv(tmp_path / "evens.csv", rows[::2]), final_line_ok=True)
    both = service.import_file(write_csv(tmp_path / "all.csv", rows[::-1]), final_line_ok=True)
    again = service.import_file(write_csv(tmp_path / "again.csv", rows), final_line_ok=True)

    assert (first.inserted, first.duplicates) == (1250, 0)
    assert (both.inserted, both.duplicates, both.conflicts) == (1250, 1250, 0)
    assert (again.inserted, again.duplicates) == (0, 2500)
    assert _count(pg_engine, "SELECT count(*) FROM trades") == 2500
    assert _count(pg_engine, "SELECT count(*) FROM imported_executions") == 2500
    # Each trade came from the first file that carried it.
    assert (
        _count(
            pg_engine, "SELECT count(*) FROM imported_executions WHERE csv_filename = 'evens.csv'"
        )
        == 1250
    )


@pytest.mark.parametrize("other_ends", ["commit", "rollback"])
def test_returning_waits_for_another_writers_uncommitted_id(
    pg_engine: Engine, pg_settings: Settings, tmp_path: Path, other_ends: str
) -> None:
    """Another writer holds an uncommitted ledger row for an ID in our batch: the import
    waits for it; if it commits, that ID is a duplicate, if it rolls back, ours is inserted."""
    rows = make_rows(3)
    path = write_csv(tmp_path / "a.csv", rows)
    other = create_engine(pg_settings.database_url)
    done: list[ImportResult | BaseException] = []

    def run() -> None:
        try:
            done.append(ImportService(pg_engine, pg_settings).import_file(path, final_line_ok=True))
        except BaseException as exc:  # reported by the assertion below
            done.append(exc)

    try:
        with other.connect() as conn:
            tx = conn.begin()
            conn.execute(
                text(
                    "INSERT INTO imported_executions (execution_id, csv_filename, "
                    "import_timestamp) VALUES (:id, 'other-pc.csv', now())"
                ),
                {"id": rows[1].execution_id},
            )
            importer = threading.Thread(target=run)
            importer.start()
            wait_for(
                lambda: _count(
                    pg_engine,
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'",
                ),
                1,
                what="the import waiting on the other writer's row",
            )
            assert not done
            if other_ends == "commit":
                tx.commit()
            else:
                tx.rollback()
            importer.join(30)
    finally:
        other.dispose()

    [result] = done
    assert isinstance(result, ImportResult), result
    if other_ends == "commit":
        assert (result.inserted, result.duplicates) == (2, 1)
        assert _count(pg_engine, "SELECT count(*) FROM trades") == 2  # theirs has no trade
    else:
        assert (result.inserted, result.duplicates) == (3, 0)
        assert _count(pg_engine, "SELECT count(*) FROM trades") == 3
    assert _count(pg_engine, "SELECT count(*) FROM imported_executions") == 3


def test_concurrent_multi_batch_transactions_do_not_deadlock(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writers, the same rows in opposite halves of their files, each file several
    statement batches: each holds its first batch's rows when the other reaches them, and
    neither import fails with a deadlock."""
    monkeypatch.setattr(importer_module, "WRITE_ROWS", 1)  # one 1 MiB block per statement
    rows = wide_rows(6000)  # 2.5 MB, three blocks per file
    halves = rows[:3000], rows[3000:]
    files = [
        write_csv(tmp_path / "pc1.csv", halves[0] + halves[1]),
        write_csv(tmp_path / "pc2.csv", halves[1] + halves[0]),
    ]
    engine = make_engine(
        load_settings({"database_url": postgres_url, "source_timezone": "UTC"}, environ={})
    )
    migrate.upgrade(engine)
    original = Transaction._write_rows
    barrier = threading.Barrier(2, timeout=30)
    first = threading.local()

    def gated(self: Transaction, *args: Any, **kwargs: Any) -> Any:
        counts = original(self, *args, **kwargs)
        if not getattr(first, "done", False):
            first.done = True
            barrier.wait()  # both now hold the row locks of their first statement batch
        return counts

    monkeypatch.setattr(Transaction, "_write_rows", gated)
    results: dict[int, ImportResult | BaseException] = {}

    def run(n: int) -> None:
        settings = load_settings(
            {
                "database_url": postgres_url,
                "source_timezone": "UTC",
                "instance_name": f"pc{n}",
                "batch_size": 10**9,
                "commit_seconds": 1000,
            },
            environ={},
        )
        try:
            results[n] = ImportService(engine, settings).import_file(files[n], final_line_ok=True)
        except BaseException as exc:  # reported by the assertion below
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in (0, 1)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert all(isinstance(r, ImportResult) for r in results.values()), results
        done = [r for r in results.values() if isinstance(r, ImportResult)]
        assert sum(r.inserted for r in done) == len(rows)
        assert [r.inserted + r.duplicates for r in done] == [len(rows), len(rows)]
        assert _count(engine, "SELECT count(*) FROM trades") == len(rows)
    finally:
        engine.dispose()


def test_connections_notice_a_network_that_dies_silently(postgres_url: str) -> None:
    """A cut that sends no reset must not hang a statement for hours: connections carry TCP
    keepalives and a user timeout (a URL's own values win)."""

    def parameters(url: str) -> dict[str, str]:
        engine = make_engine(
            load_settings({"database_url": url, "source_timezone": "UTC"}, environ={})
        )
        try:
            raw = engine.raw_connection()
            try:
                return dict(raw.driver_connection.info.get_parameters())  # type: ignore[union-attr]
            finally:
                raw.close()
        finally:
            engine.dispose()

    params = parameters(postgres_url)
    assert params["keepalives"] == "1"
    idle, interval, count = (
        int(params[k]) for k in ("keepalives_idle", "keepalives_interval", "keepalives_count")
    )
    assert idle + interval * count <= 120  # seconds until a dead peer is noticed
    assert 0 < int(params["tcp_user_timeout"]) <= 120_000
    assert parameters(postgres_url + "?keepalives_idle=7")["keepalives_idle"] == "7"


def test_instance_name_longer_than_its_column_is_a_configuration_error(
    postgres_url: str, tmp_path: Path
) -> None:
    """An instance name PostgreSQL's checkpoint column cannot hold is refused up front (exit 2)
    instead of failing every import; 255 characters still work."""
    path = write_csv(tmp_path / "a.csv", make_rows(2))
    common = ["--database", postgres_url, "--log-format", "json", "--settle", "0"]
    refused = run_cli("import", str(path), "--instance-name", "é" * 256, *common)
    assert refused.returncode == 2, refused.stderr
    assert "instance_name" in refused.stderr
    assert "255" in refused.stderr
    accepted = run_cli("import", str(path), "--instance-name", "é" * 255, *common)
    assert accepted.returncode == 0, accepted.stderr
    assert "inserted=2" in accepted.stdout
