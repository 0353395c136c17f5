"""The three Alembic revisions: up, down and up again with data; models match; r3's backfill."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Engine, Integer, MetaData, func, inspect, select

from csv_import_daemon.config.commissions import CommissionSchedule
from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db import migrate
from csv_import_daemon.db.engine import make_engine
from csv_import_daemon.db.models import METADATA
from csv_import_daemon.db.tables import LEDGER, TRADES
from csv_import_daemon.importing.service import ImportService
from csv_import_daemon.trips.consistency import check_round_trips
from csv_import_daemon.trips.schedule import _GROUPS, _GROUPS_SCHEDULED
from support.paths import REPO
from support.processes import clean_env

R1, R2, R3 = "0001_trades", "0002_imported_executions", "0003_backfill_ledger"
R4 = "0004_real_world_files"
R5 = "0005_round_trips"
R6 = "0006_daemon_instances"
R7 = "0007_ledger_retention"
R8 = "0008_file_ctime"
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
R19 = HEAD = "0019_trades_commission_source"
SOURCE_GROUPS = (_GROUPS_SCHEDULED, _GROUPS)
TABLES = {
    "trades",
    "import_files",
    "import_rejections",
    "imported_executions",
    "trade_corrections",
    "daemon_instances",
    "round_trips",
    "round_trip_fills",
    "ledger_retention",
    "instance_settings",
    "round_trip_state",
    "round_trip_bookings",
}


@pytest.fixture
def bare_engine(settings: Settings) -> Any:
    """An engine on the empty test database: no migration has run."""
    eng = make_engine(settings)
    yield eng
    eng.dispose()


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(table).where(*where)) or 0


def import_samples(engine: Engine, settings: Settings, samples: Path) -> None:
    service = ImportService(engine, settings)
    for path in sorted(samples.iterdir()):
        service.import_file(path, final_line_ok=True)


def trade(execution_id: str, executed_at: datetime, account: str = "Sim101") -> dict[str, Any]:
    return {
        "execution_id": execution_id,
        "account": account,
        "instrument": "MNQ MAR25",
        "action": "Buy",
        "entry_exit": "Entry",
        "quantity": 1,
        "price": Decimal("1.25"),
        "executed_at": executed_at,
        "commission": None,
        "order_id": None,
        "order_name": None,
        "connection": None,
        "position_after": None,
        "source_file": "/old/file.csv",
        "source_line": 2,
        "imported_at": datetime(2025, 6, 1, 12, 0, 0),
    }


def ledger(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        return {r["execution_id"]: dict(r) for r in conn.execute(select(LEDGER)).mappings()}


# -- schema -------------------------------------------------------------------------------


def test_upgrade_to_head_creates_every_table(engine: Engine) -> None:
    """A migrated database is at head and has trades, checkpoints, rejections and the ledger."""
    assert migrate.current(engine) == migrate.head() == HEAD
    assert migrate.is_current(engine)
    assert tables(engine) == TABLES


def test_models_match_the_migrations(engine: Engine) -> None:
    """Autogenerate finds no difference between the models and a database migrated to head."""
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, METADATA) == []

        # The comparison is not blind: a column the migrations lack is reported.
        changed = MetaData()
        for table in METADATA.tables.values():
            table.to_metadata(changed)
        changed.tables["trades"].append_column(Column("not_migrated", Integer))
        diff = compare_metadata(context, changed)
    assert [(d[0], d[3].name) for d in diff] == [("add_column", "not_migrated")]


def test_ledger_has_one_unique_index_on_execution_id(engine: Engine) -> None:
    """imported_executions: the spec's columns, and uniqueness as one index, no constraint."""
    inspector = inspect(engine)
    indexes = {
        ix["name"]: (ix["column_names"], bool(ix["unique"]))
        for ix in inspector.get_indexes("imported_executions")
    }
    assert indexes == {
        "idx_imported_executions_exec_id": (["execution_id"], True),
        "idx_imported_executions_csv_file": (["csv_filename"], False),
        "idx_imported_executions_timestamp": (["import_timestamp"], False),
    }
    assert inspector.get_unique_constraints("imported_executions") == []
    columns = {c["name"]: c for c in inspector.get_columns("imported_executions")}
    assert {n: (getattr(c["type"], "length", None), c["nullable"]) for n, c in columns.items()} == {
        "id": (None, False),
        "execution_id": (255, False),
        "csv_filename": (255, False),
        "import_timestamp": (None, False),
        "account": (50, True),
        "instrument": (50, True),
    }
    assert columns["import_timestamp"]["default"] is not None


def test_ledger_timestamp_defaults_to_now(engine: Engine) -> None:
    """A ledger row inserted without import_timestamp gets the database's current time."""
    with engine.begin() as conn:
        conn.execute(LEDGER.insert().values(execution_id="x", csv_filename="f.csv"))
    assert ledger(engine)["x"]["import_timestamp"].year >= 2025


# -- up, down and up again -------------------------------------------------------------------


def test_downgrade_base_then_upgrade_head_with_data(
    engine: Engine, settings: Settings, samples: Path
) -> None:
    """With imported data in every table, `downgrade base` then `upgrade head` works."""
    import_samples(engine, settings, samples)
    assert count(engine, TRADES) == 14

    migrate.downgrade(engine, "base")
    assert migrate.current(engine) is None
    assert tables(engine) == set()

    migrate.upgrade(engine)
    assert migrate.current(engine) == HEAD
    assert count(engine, TRADES) == 0
    import_samples(engine, settings, samples)
    assert count(engine, TRADES) == count(engine, LEDGER) == 14


def test_each_revision_steps_down_and_up_keeping_the_other_data(
    engine: Engine, settings: Settings, samples: Path
) -> None:
    """Stepping through r3, r2 and back: trades survive; the ledger is rebuilt by the backfill."""
    import_samples(engine, settings, samples)
    backfill = LEDGER.c.csv_filename == "BACKFILL"

    migrate.downgrade(engine, R2)  # r3 down: only BACKFILL rows go, and there are none
    assert (count(engine, LEDGER), count(engine, LEDGER, backfill)) == (14, 0)
    migrate.upgrade(engine)  # r3 up: every trade is already in the ledger
    assert (count(engine, LEDGER), count(engine, LEDGER, backfill)) == (14, 0)

    migrate.downgrade(engine, R1)  # r2 down: the ledger goes, trades stay
    assert tables(engine) == TABLES - {
        "imported_executions",
        "trade_corrections",
        "daemon_instances",
        "round_trips",
        "round_trip_fills",
        "ledger_retention",
        "instance_settings",
        "round_trip_state",
        "round_trip_bookings",
    }
    assert count(engine, TRADES) == 14
    migrate.upgrade(engine)  # r2 + r3 up: the ledger is rebuilt from trades
    assert (count(engine, LEDGER), count(engine, LEDGER, backfill)) == (14, 14)

    again = ImportService(engine, settings).import_file(
        samples / "grid-export-en-us.csv", reread=True, final_line_ok=True
    )
    assert (again.inserted, again.duplicates) == (0, 6)


# -- r19: the index of the consistency check -------------------------------------------------


def test_revision_0019_indexes_trades_by_commission_source_and_quantity(
    engine: Engine, settings: Settings, samples: Path
) -> None:
    """Up from 0018 with trades stored: the index is made over them, the trades and what the
    check says stay; down drops only the index. On SQLite the check's sum of quantities
    reads the index alone, and the fills of a commission source are searched, not scanned."""
    import_samples(engine, settings, samples)
    name = "ix_trades_commission_source_quantity"
    with engine.connect() as conn:
        before = check_round_trips(conn, schedule=CommissionSchedule({}))
    migrate.downgrade(engine, R18)
    assert name not in {i["name"] for i in inspect(engine).get_indexes("trades")}
    migrate.upgrade(engine)
    indexes = {i["name"]: i["column_names"] for i in inspect(engine).get_indexes("trades")}
    assert indexes[name] == ["commission_source", "quantity"]
    assert count(engine, TRADES) == 14
    with engine.connect() as conn:
        assert check_round_trips(conn, schedule=CommissionSchedule({})) == before
        if engine.dialect.name != "sqlite":
            return
        # The check's sum, and the fills' groups without a schedule and with one.
        queries = ("SELECT count(*), coalesce(sum(quantity), 0) FROM trades", *SOURCE_GROUPS)
        plans = {
            query: " ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + query))
            for query in queries
        }
    covered = f"SCAN trades USING COVERING INDEX {name}"
    read = [plan.replace(covered, name) for plan in plans.values()]
    assert all(name in plan and "SCAN trades" not in plan for plan in read), plans


# -- r3: the backfill -----------------------------------------------------------------------


def test_backfill_puts_existing_trades_in_the_ledger(
    bare_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """r3 adds every trade's ID missing from the ledger as BACKFILL at its execution time."""
    migrate.upgrade(bare_engine, R2)
    at = [
        datetime(2025, 1, 28, 15, 59, 52),
        datetime(2025, 1, 29, 9, 0, 1),
        datetime(2025, 1, 30, 21, 5, 0),
    ]
    earlier = datetime(2025, 2, 1, 8, 0, 0)
    with bare_engine.begin() as conn:
        conn.execute(
            TRADES.insert(), [trade("T1", at[0]), trade("T2", at[1], "APEX2"), trade("T3", at[2])]
        )
        conn.execute(
            LEDGER.insert(),
            [
                {
                    "execution_id": f"T{n}",
                    "csv_filename": "export.csv",
                    "import_timestamp": earlier,
                    "account": "Sim101",
                    "instrument": "MNQ MAR25",
                }
                for n in (1, 2, 3)
            ],
        )
        conn.execute(LEDGER.delete().where(LEDGER.c.execution_id.in_(["T2", "T3"])))
        conn.execute(
            LEDGER.insert().values(
                execution_id="ONLY-IN-LEDGER", csv_filename="old.csv", import_timestamp=earlier
            )
        )
    caplog.set_level(logging.INFO, logger="csv_import_daemon.migrations")

    migrate.upgrade(bare_engine, R3)

    rows = ledger(bare_engine)
    seen = {k: (r["csv_filename"], r["import_timestamp"], r["account"]) for k, r in rows.items()}
    assert seen == {
        "T1": ("export.csv", earlier, "Sim101"),
        "T2": ("BACKFILL", at[1], "APEX2"),
        "T3": ("BACKFILL", at[2], "Sim101"),
        "ONLY-IN-LEDGER": ("old.csv", earlier, None),
    }
    assert rows["T2"]["instrument"] == "MNQ MAR25"
    (record,) = [r for r in caplog.records if r.getMessage() == "backfilled"]
    assert getattr(record, "count", None) == 2  # an identifier as the event, the count a field


def test_backfill_downgrade_deletes_only_backfill_rows(bare_engine: Engine) -> None:
    """Downgrading r3 removes the BACKFILL ledger rows and nothing else."""
    migrate.upgrade(bare_engine, R2)
    at = datetime(2025, 1, 28, 15, 59, 52)
    with bare_engine.begin() as conn:
        conn.execute(TRADES.insert(), [trade("K1", at), trade("B1", at)])
        conn.execute(
            LEDGER.insert().values(execution_id="K1", csv_filename="kept.csv", import_timestamp=at)
        )
    migrate.upgrade(bare_engine, R3)
    assert set(ledger(bare_engine)) == {"K1", "B1"}

    migrate.downgrade(bare_engine, R2)

    assert {k: r["csv_filename"] for k, r in ledger(bare_engine).items()} == {"K1": "kept.csv"}
    assert count(bare_engine, TRADES) == 2


# -- the same migrations through every entry point ------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    return clean_env(extra)


def test_alembic_command_from_the_repository_root(
    database_url: str, bare_engine: Engine, tmp_path: Path
) -> None:
    """`alembic upgrade head` at the repository root uses CSV_IMPORT_DATABASE_URL or the TOML."""
    alembic = Path(sys.executable).with_name("alembic")
    up = subprocess.run(
        [str(alembic), "upgrade", "head"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=_env(CSV_IMPORT_DATABASE_URL=database_url),
        check=False,
    )
    assert up.returncode == 0, up.stderr
    assert migrate.current(bare_engine) == HEAD

    config = tmp_path / "settings.toml"
    config.write_text(f'database_url = "{database_url}"\n')
    current = subprocess.run(
        [str(alembic), "current"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=_env(CSV_IMPORT_CONFIG=str(config)),
        check=False,
    )
    assert current.returncode == 0, current.stderr
    assert f"{HEAD} (head)" in current.stdout


def test_migrations_ship_inside_the_wheel(tmp_path: Path) -> None:
    """A built wheel holds the migrations, and they run from there without the checkout."""
    source = tmp_path / "src-copy"  # built from a copy: the shared checkout is left alone
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(REPO / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(REPO / "src", source / "src", ignore=ignore)
    shutil.copytree(REPO / "alembic", source / "alembic", ignore=ignore)
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("csv_import_daemon-*.whl")
    installed = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        zf.extractall(installed)
    assert "csv_import_daemon/migrations/env.py" in names
    # Revision 0005's frozen data step ships beside the revisions that load it.
    assert "csv_import_daemon/migrations/frozen_0005_round_trips.py" in names
    assert "csv_import_daemon/migrations/frozen_0010_contracts.py" in names
    assert {
        f"csv_import_daemon/migrations/versions/{r}.py"
        for r in (R1, R2, R3, R6, R7, R8, R9, R10, R11, R12, R13, R14, R15, R16, R17, R18, R19)
    } <= names
    # The journal page's template, style and script are package data too.
    page = {f"csv_import_daemon/reports/templates/journal.{k}" for k in ("html.j2", "css", "js")}
    assert page <= names

    script = (
        "import csv_import_daemon\n"
        "from csv_import_daemon.config.settings import load_settings\n"
        "from csv_import_daemon.db import migrate\n"
        "from csv_import_daemon.db.engine import make_engine\n"
        "engine = make_engine(load_settings({'database_url': 'sqlite:///wheel.sqlite3',"
        " 'source_timezone': 'UTC'}))\n"
        "migrate.upgrade(engine)\n"
        "print(csv_import_daemon.__file__)\n"
        "print(migrate.script_location())\n"
        "print(migrate.current(engine))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=_env(PYTHONPATH=str(installed)),
        check=False,
    )
    assert run.returncode == 0, run.stderr
    module, location, revision = run.stdout.split()
    assert module == str(installed / "csv_import_daemon" / "__init__.py")
    assert location == str(installed / "csv_import_daemon" / "migrations")
    assert revision == HEAD
