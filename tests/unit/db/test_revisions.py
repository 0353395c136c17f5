"""The Alembic revisions are frozen: no application code, right headers, 0005's data step.

A revision is history: if it imported the application's models or rules, changing the
application would change what an old revision creates. So each revision writes its types
out, and revision 0005's round trips come from a frozen copy of the rule beside the
revisions, which must give what the application's ``--rebuild`` gives.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import random
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db import migrate
from csv_import_daemon.db.engine import make_engine
from csv_import_daemon.db.tables import TRADES
from csv_import_daemon.trips.refresh import rebuild_round_trips
from support.paths import REPO

VERSIONS = REPO / "alembic" / "versions"
REVISIONS = sorted(VERSIONS.glob("*.py"))
FROZEN_HELPERS = sorted((REPO / "alembic").glob("frozen_*.py"))
R4, R5 = "0004_real_world_files", "0005_round_trips"


def _assigned(tree: ast.Module, name: str) -> Any:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(f"no {name} = ... at module level")


def test_there_are_revisions_and_a_frozen_helper() -> None:
    """The checks below look at real files (an empty glob would pass them all)."""
    assert len(REVISIONS) >= 6
    assert [p.name for p in FROZEN_HELPERS] == [
        "frozen_0005_round_trips.py",
        "frozen_0010_contracts.py",
    ]


@pytest.mark.parametrize("path", REVISIONS, ids=lambda p: p.stem)
def test_the_revises_header_names_the_down_revision(path: Path) -> None:
    """The docstring's ``Revision ID:`` and ``Revises:`` say what the code says."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    doc = ast.get_docstring(tree) or ""
    header = dict(re.findall(r"^(Revision ID|Revises):[ \t]*(\S*)[ \t]*$", doc, re.MULTILINE))
    assert header.get("Revision ID") == _assigned(tree, "revision") == path.stem
    assert header.get("Revises", "missing") == (_assigned(tree, "down_revision") or "")


def _application_imports(path: Path) -> list[str]:
    """Where ``path`` imports csv_import_daemon: statements (at any depth, lazy ones too)
    and ``import_module``/``__import__`` calls naming it."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        elif isinstance(node, ast.Call) and ast.unparse(node.func).endswith(
            ("import_module", "__import__")
        ):
            names = [
                a.value
                for a in node.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
        line = getattr(node, "lineno", 0)
        found += [f"{path.name}:{line} {n}" for n in names if n.startswith("csv_import")]
    return found


@pytest.mark.parametrize("path", REVISIONS + FROZEN_HELPERS, ids=lambda p: p.stem)
def test_no_revision_imports_the_application(path: Path) -> None:
    """Revisions and their frozen helper use only the standard library, SQLAlchemy, Alembic."""
    assert _application_imports(path) == []


def test_the_import_check_finds_an_application_import(tmp_path: Path) -> None:
    """The check above can fail: top-level, lazy and dynamic imports are all reported."""
    module = tmp_path / "0009_bad.py"
    module.write_text(
        "from csv_import_daemon.db.models import LIMITS\n"
        "def upgrade():\n"
        "    import csv_import_daemon.trips.refresh\n"
        "    importlib.import_module('csv_import_daemon.db')\n",
        encoding="utf-8",
    )
    assert _application_imports(module) == [
        "0009_bad.py:1 csv_import_daemon.db.models",
        "0009_bad.py:3 csv_import_daemon.trips.refresh",
        "0009_bad.py:4 csv_import_daemon.db",
    ]


# -- revision 0005's data step ----------------------------------------------------------------

ACCOUNTS = ("Sim101", "APEX2")
# Points in USD, in EUR (another currency), and a root with no point value (P&L null).
INSTRUMENTS = ("MNQ MAR25", "ESZ5", "FDAX 12-25", "ZZQ 03-26")
BUYS, SELLS = ("Buy", "BuyToCover", "Buy to cover"), ("Sell", "SellShort", "sell")
FLAGS = ("Entry", "Exit", None)
COMMISSIONS = (None, Decimal("0.37"), Decimal("1.23456789"), Decimal(0), Decimal("2.5"))


def _trades(seed: int) -> Iterator[dict[str, Any]]:
    """Fills that exercise the rule: reversals, one-second ties with flags, odd quantities
    and prices (averages that need rounding), commissions to split, an unknown action."""
    rng = random.Random(seed)
    number = 0
    for account in ACCOUNTS:
        for instrument in INSTRUMENTS:
            at = datetime(2025, 3, 3, 14, 30, 0)
            position = 0
            for _ in range(70):
                number += 1
                # Mostly back towards flat, so round trips close (and often reverse).
                buy = position < 0 if rng.random() < 0.7 else rng.random() < 0.5
                quantity = rng.choice((1, 1, 2, 3, 5, 7, 10))
                position += quantity if buy else -quantity
                at += timedelta(seconds=rng.choice((0, 0, 1, 2, 60)))
                yield {
                    "execution_id": f"x{number:05d}-{rng.randint(0, 99)}",
                    "account": account,
                    "instrument": instrument,
                    "action": "Weird" if number % 97 == 0 else rng.choice(BUYS if buy else SELLS),
                    "entry_exit": rng.choice(FLAGS),
                    "quantity": quantity,
                    "price": Decimal(rng.randint(1_000_000, 2_000_000)) / rng.choice((4, 100, 3)),
                    "executed_at": at,
                    "commission": rng.choice(COMMISSIONS),
                    "order_id": None,
                    "order_name": None,
                    "connection": None,
                    "position_after": None,
                    "source_file": "/old/file.csv",
                    "source_line": number + 1,
                    "imported_at": datetime(2025, 6, 1, 12, 0, 0),
                    "extra": None,
                }


def _quantized(row: dict[str, Any]) -> dict[str, Any]:
    # NUMERIC(20, 8) keeps 8 places: the fills as stored, whatever the division left.
    for name in ("price", "commission"):
        if row[name] is not None:
            row[name] = row[name].quantize(Decimal("1E-8"))
    return row


def _stored(conn: Connection) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Both tables as the driver returns them (SQLite: the very text), IDs as ranks."""
    trips = conn.exec_driver_sql("SELECT * FROM round_trips ORDER BY id").fetchall()
    rank = {row[0]: n for n, row in enumerate(trips)}
    parts = conn.exec_driver_sql(
        "SELECT * FROM round_trip_fills ORDER BY round_trip_id, seq"
    ).fetchall()
    return (
        [(rank[r[0]], *r[1:]) for r in trips],
        [(rank[r[0]], *r[1:]) for r in parts],
    )


def _digest(stored: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]) -> str:
    """The same for SQLite's text and PostgreSQL's NUMERIC and TIMESTAMP values."""

    def cell(value: Any) -> str:
        if isinstance(value, Decimal) or (
            isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value)
        ):
            return format(Decimal(value).normalize(), "f")
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", value):
            value = datetime.fromisoformat(value)
        if isinstance(value, datetime):
            return value.isoformat(" ", "microseconds")
        return str(value)

    text = "\n".join("|".join(map(cell, row)) for rows in stored for row in rows)
    return hashlib.sha256(text.encode()).hexdigest()


# What revision 0005 stored for _trades(seed=5) when it was frozen: it must never change,
# whatever later releases do to the application's round-trip rule.
FROZEN_DIGEST = "12c6da1ed1be9ccc4ac58fc1a4ce5acd3938720f3ccc8102650850597db703b6"


@pytest.fixture
def bare_engine(settings: Settings) -> Iterator[Engine]:
    eng = make_engine(settings)
    yield eng
    eng.dispose()


def test_revision_0005_gives_the_round_trips_a_rebuild_gives(bare_engine: Engine) -> None:
    """On a journal with trades, 0005's frozen step stores what it stored when it was
    frozen; 0010 then stores exactly what today's ``round-trips --rebuild`` stores: same
    rows, same values, same order."""
    migrate.upgrade(bare_engine, R4)
    with bare_engine.begin() as conn:
        conn.execute(TRADES.insert(), [_quantized(t) for t in _trades(seed=5)])
    migrate.upgrade(bare_engine, R5)
    with bare_engine.connect() as conn:
        migrated = _stored(conn)
    assert len(migrated[0]) > 100
    assert {r[3] for r in migrated[0]} == {"long", "short"}
    assert {r[-1] for r in migrated[0]} == {"USD", "EUR", None}
    assert _digest(migrated) == FROZEN_DIGEST
    # Revision 0010 keys round trips by contract (``ESZ5`` is ``ES 12-25``) and rebuilds
    # them: at the head, what it stored is exactly what today's rebuild stores.
    migrate.upgrade(bare_engine)
    with bare_engine.connect() as conn:
        upgraded = _stored(conn)
    with bare_engine.begin() as conn:
        rebuilt_count = rebuild_round_trips(conn)
        rebuilt = _stored(conn)
    assert len(upgraded[0]) == rebuilt_count == len(migrated[0])
    # contract, then 0014's commission_currency (the P&L's: these trades name none)
    assert {r[-2] for r in upgraded[0]} == {"ES 12-25", "MNQ 03-25", "FDAX 12-25", "ZZQ 03-26"}
    assert {(r[-3], r[-1]) for r in upgraded[0]} == {("USD", "USD"), ("EUR", "EUR"), (None, None)}
    assert upgraded == rebuilt


def test_revision_0010_joins_the_spellings_of_one_contract(bare_engine: Engine) -> None:
    """A journal at 0009 with one contract in three spellings (an open round trip per
    spelling there) has one closed round trip after 0010, its opening fill's text shown."""
    migrate.upgrade(bare_engine, "0009_meaning_stand_ins")
    base = next(_trades(seed=1))
    fills = [
        ("c1", "MNQ 06-26", "Buy", 2, datetime(2026, 3, 2, 15, 0)),
        ("c2", "MNQ JUN26", "Sell", 1, datetime(2026, 3, 3, 15, 0)),
        ("c3", "MNQM6", "Sell", 1, datetime(2026, 3, 4, 15, 0)),
    ]
    with bare_engine.begin() as conn:
        conn.execute(
            TRADES.insert(),
            [
                {**base, "execution_id": i, "account": "Sim101", "instrument": name,
                 "action": action, "entry_exit": None, "quantity": q, "price": Decimal(100 + n),
                 "executed_at": at, "commission": Decimal("0.5")}
                for n, (i, name, action, q, at) in enumerate(fills)
            ],
        )  # fmt: skip
        assert rebuild_round_trips_0009(conn) == 3
    migrate.upgrade(bare_engine)
    with bare_engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT instrument, contract, closed_at IS NOT NULL, points, pnl FROM round_trips"
        ).all()
        contracts = conn.exec_driver_sql("SELECT contract FROM trades ORDER BY id").scalars()
        assert list(contracts) == ["MNQ 06-26"] * 3
    # Bought 2 at 100, sold 1 at 101 and 1 at 102: 3 points, $6 (MNQ: $2 a point).
    assert [(r[0], r[1], bool(r[2]), Decimal(str(r[3])), Decimal(str(r[4]))) for r in rows] == [
        ("MNQ 06-26", "MNQ 06-26", True, Decimal(3), Decimal(6))
    ]


def rebuild_round_trips_0009(conn: Connection) -> int:
    """The round trips as a journal at 0009 held them: revision 0005's rule, per instrument."""
    spec = importlib.util.spec_from_file_location("frozen_0005_for_test", FROZEN_HELPERS[0])
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built: int = module.build_round_trips(conn)
    return built


def test_revision_0011_records_the_zone_an_instances_files_were_read_in(
    bare_engine: Engine, settings: Settings
) -> None:
    """A journal of an earlier release: instance "pc" read every file in Chicago, "mixed"
    in two zones. After 0011, "pc" has Chicago recorded (its next command without a zone
    reads there, not in the host's zone); "mixed" has nothing recorded (not guessed)."""
    import dataclasses  # noqa: PLC0415

    from sqlalchemy import text  # noqa: PLC0415

    from csv_import_daemon.db import recorded  # noqa: PLC0415

    migrate.upgrade(bare_engine, "0010_contracts")
    files = [("pc", "a", "America/Chicago"), ("pc", "b", "America/Chicago")]
    files += [("mixed", "c", "America/Chicago"), ("mixed", "d", "Europe/London")]
    with bare_engine.begin() as conn:
        for instance, path, zone in files:
            conn.execute(
                text(
                    'INSERT INTO import_files (instance, path, size, mtime_ns, "offset", '
                    "lines_consumed, pending_bytes, inserted, duplicates, rejected, conflicts, "
                    "status, updated_at, source_timezone) VALUES (:i, :p, 0, 0, 0, 0, 0, 0, 0, "
                    "0, 0, 'ok', '2026-12-01 10:00:00', :z)"
                ),
                {"i": instance, "p": path, "z": zone},
            )
    migrate.upgrade(bare_engine)
    with bare_engine.connect() as conn:
        pc = recorded.load(conn, "pc")
        assert recorded.load(conn, "mixed") is None
    assert pc is not None
    assert pc.source_timezone == "America/Chicago"
    unset = dataclasses.replace(settings, instance_name="pc", given=frozenset())
    assert recorded.settle(bare_engine, unset, record=False).source_timezone == "America/Chicago"
