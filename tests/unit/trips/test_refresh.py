"""Round trips and P&L: hand-computed scenarios, settings, commands; SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from structlog.testing import capture_logs

from csv_import_daemon.config.point_values import instrument_root
from csv_import_daemon.config.settings import Settings, load_settings
from csv_import_daemon.db import migrate
from csv_import_daemon.db.engine import make_engine
from csv_import_daemon.errors import ConfigError
from support.trip_reference import normalized, reference_round_trips, stored_round_trips, trades_of
from support.trips import DAY1, import_all, row, write

D = Decimal


def clock(dt: datetime) -> str:
    hour = dt.hour % 12 or 12
    ampm = "AM" if dt.hour < 12 else "PM"
    return f"{dt.month}/{dt.day}/{dt.year} {hour}:{dt.minute:02}:{dt.second:02} {ampm}"


def trips(engine: Engine) -> list[dict[str, Any]]:
    return normalized(stored_round_trips(engine))


def run_cli(*args: str) -> str:
    """The real command in a subprocess (no CSV_IMPORT_* from this environment); stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSV_IMPORT_")}
    done = subprocess.run(
        [sys.executable, "-m", "csv_import_daemon", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def utc(dt: datetime) -> datetime:
    return dt + timedelta(hours=5)  # New York in January


def test_a_reversing_fill_closes_one_round_trip_and_opens_the_next(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Buy 2, sell 5 (crosses zero), buy 3: two round trips, the 5-lot split 2/3."""
    t = DAY1
    f = write(
        tmp_path / "a.csv",
        [
            row("e1", "Buy", 2, "100", t, flag="Entry", commission="$0.50"),
            row("e2", "Sell", 5, "110", t + timedelta(seconds=5), flag="Exit", commission="$1.00"),
            row("e3", "Buy", 3, "105", t + timedelta(seconds=9), flag="Exit", commission="$0.75"),
        ],
    )
    import_all(engine, settings, f)
    got = trips(engine)
    assert [(x["direction"], x["quantity"], x["open_quantity"]) for x in got] == [
        ("long", 2, 0),
        ("short", 3, 0),
    ]
    long, short = got
    assert (long["points"], long["pnl"], long["commission"], long["net_pnl"]) == (
        D(20),
        D(40),
        D("0.9"),
        D("39.1"),
    )
    assert (long["entry_price"], long["exit_price"]) == (D(100), D(110))
    assert long["closed_at"] == short["opened_at"] == utc(t + timedelta(seconds=5))
    assert (short["points"], short["pnl"], short["commission"], short["net_pnl"]) == (
        D(15),
        D(30),
        D("1.35"),
        D("28.65"),
    )
    assert [e["quantity"] for e in long["executions"]] == [2, 2]
    assert [(e["execution_id"], e["quantity"]) for e in short["executions"]] == [
        ("e2", 3),
        ("e3", 3),
    ]


def test_a_scale_in_closed_over_two_days_matches_fifo(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Two entries on day 1, two exits on day 2 (separate files): FIFO points, one trip."""
    t = DAY1
    day1 = write(
        tmp_path / "d1.csv",
        [
            row("s1", "Buy", 1, "100", t, instrument="MES JUN25", commission="$0.62"),
            row("s2", "Buy", 1, "102", t + timedelta(minutes=5), instrument="MES JUN25"),
        ],
    )
    import_all(engine, settings, day1)
    (open_trip,) = trips(engine)
    assert (open_trip["closed_at"], open_trip["open_quantity"], open_trip["points"]) == (
        None,
        2,
        0,
    )
    t2 = t + timedelta(days=1)
    day2 = write(
        tmp_path / "d2.csv",
        [
            row("s3", "Sell", 1, "105", t2, instrument="MES JUN25"),
            row("s4", "Sell", 1, "101", t2 + timedelta(minutes=1), instrument="MES JUN25"),
        ],
    )
    import_all(engine, settings, day2)
    (trip,) = trips(engine)
    # FIFO: (105 - 100) + (101 - 102) = 4 points at $5.
    assert (trip["points"], trip["pnl"], trip["net_pnl"]) == (D(4), D(20), D("19.38"))
    assert (trip["entry_price"], trip["exit_price"], trip["quantity"]) == (D(101), D(103), 2)
    assert trip["closed_at"] == utc(t2 + timedelta(minutes=1))


def test_copy_trading_keeps_each_account_its_own_round_trips(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """The same fills on two accounts: two round trips, never one merged trade."""
    rows = []
    for account in ("APEX-1", "APEX-2"):
        rows += [
            row(f"{account}-1", "Buy", 1, "21000", DAY1, account=account),
            row(f"{account}-2", "Sell", 1, "21010", DAY1 + timedelta(seconds=30), account=account),
        ]
    import_all(engine, settings, write(tmp_path / "copy.csv", rows))
    got = trips(engine)
    assert [(x["account"], x["quantity"], x["pnl"]) for x in got] == [
        ("APEX-1", 1, D(20)),
        ("APEX-2", 1, D(20)),
    ]


def test_same_second_fills_are_ordered_by_their_entry_exit_flags(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """An Exit listed (and ID-sorted) before its Entry in one second: still one long trip."""
    f = write(
        tmp_path / "s.csv",
        [
            row("a-exit", "Sell", 1, "110", DAY1, flag="Exit"),
            row("b-entry", "Buy", 1, "100", DAY1, flag="Entry"),
        ],
    )
    import_all(engine, settings, f)
    (trip,) = trips(engine)
    assert (trip["direction"], trip["points"], trip["closed_at"]) == ("long", D(10), utc(DAY1))
    assert [e["execution_id"] for e in trip["executions"]] == ["b-entry", "a-exit"]


def test_an_unknown_contract_has_null_pnl_and_one_warning(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """No point value for ZZZ: pnl and net_pnl null (never $1 a point), warned once."""
    rows = [
        row(f"z{i}", "Buy" if i % 2 == 0 else "Sell", 1, str(100 + i), DAY1 + timedelta(i))
        for i in range(4)
    ]
    f = write(tmp_path / "z.csv", [r.replace("MNQ MAR25", "ZZZ MAR25") for r in rows])
    with capture_logs() as logs:
        import_all(engine, settings, f)
    got = trips(engine)
    assert len(got) == 2
    assert all(x["pnl"] is None and x["net_pnl"] is None and x["currency"] is None for x in got)
    assert [x["points"] for x in got] == [D(1), D(1)]
    warned = [e for e in logs if e["event"] == "point_value_unknown"]
    assert [e["root"] for e in warned] == ["ZZZ"]


def test_a_deleted_fill_is_gone_after_rebuild(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """A trade deleted by hand: round-trips --rebuild recomputes from what trades hold."""
    f = write(
        tmp_path / "d.csv",
        [
            row("d1", "Buy", 1, "100", DAY1),
            row("d2", "Buy", 1, "101", DAY1 + timedelta(seconds=1)),
            row("d3", "Sell", 2, "103", DAY1 + timedelta(seconds=2)),
        ],
    )
    import_all(engine, settings, f)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM trades WHERE execution_id = 'd2'"))
    out = run_cli("round-trips", "--rebuild", "--database", settings.database_url)
    got = trips(engine)
    assert got == normalized(reference_round_trips(trades_of(engine)))
    # Buy 1 then sell 2: a closed long (3 points) and an open short of 1.
    assert [(x["direction"], x["points"], x["open_quantity"]) for x in got] == [
        ("long", D(3), 0),
        ("short", D(0), 1),
    ]
    assert "rebuilt 2 round trips" in out


def test_file_order_does_not_change_the_round_trips(
    settings: Settings, tmp_path: Path, engine: Engine
) -> None:
    """The same fills in three files, imported in two orders: identical round trips."""
    base = [
        row("o1", "Buy", 2, "100", DAY1, flag="Entry"),
        row("o2", "Sell", 3, "104", DAY1 + timedelta(seconds=1), flag="Exit"),
        row("o3", "Buy", 1, "102", DAY1 + timedelta(seconds=1), flag="Exit"),
        row("o4", "Buy", 4, "101", DAY1 + timedelta(seconds=2)),
        row("o5", "Sell", 4, "99", DAY1 + timedelta(seconds=3)),
    ]
    files = [
        write(tmp_path / "1.csv", [base[4], base[0]]),
        write(tmp_path / "2.csv", [base[2]]),
        write(tmp_path / "3.csv", [base[3], base[1]]),
    ]
    import_all(engine, settings, *files)
    first = trips(engine)
    other = dataclasses.replace(settings, database_url=f"sqlite:///{tmp_path / 'o.sqlite3'}")
    eng2 = make_engine(other)
    try:
        migrate.upgrade(eng2)
        import_all(eng2, other, *reversed(files))
        assert trips(eng2) == first == normalized(reference_round_trips(trades_of(engine)))
    finally:
        eng2.dispose()


def test_round_trips_json_and_pnl_by_trading_day(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """--json has the contract's fields; a trip closed after 17:00 Chicago counts tomorrow."""
    evening = datetime(2025, 1, 28, 18, 30, 0)  # 17:30 in Chicago
    f = write(
        tmp_path / "j.csv",
        [
            row("j1", "Buy", 1, "100", DAY1),
            row("j2", "Sell", 1, "101.25", DAY1 + timedelta(minutes=1)),
            row("j3", "Sell", 1, "100", evening, commission="$0.52"),
            row("j4", "Buy", 1, "99", evening + timedelta(minutes=1), commission="$0.52"),
        ],
    )
    import_all(engine, settings, f)
    cfg = tmp_path / "zone.toml"  # the source zone is the display zone by default
    cfg.write_text('source_timezone = "America/New_York"\n', encoding="utf-8")
    zone = ("--config", str(cfg))
    data = json.loads(run_cli("round-trips", "--json", *zone, "--database", settings.database_url))
    opening = hashlib.sha256(b"Sim101\x1fMNQ MAR25\x1fj1").hexdigest()[:16]
    assert data[0] == {
        "id": opening,
        "account": "Sim101",
        "instrument": "MNQ MAR25",
        "direction": "long",
        "opened_at": "2025-01-28T15:00:00Z",
        "opened_at_local": "2025-01-28T10:00:00-05:00",
        "closed_at": "2025-01-28T15:01:00Z",
        "closed_at_local": "2025-01-28T10:01:00-05:00",
        "quantity": 1,
        "open_quantity": 0,
        "entry_price": "100",
        "exit_price": "101.25",
        "points": "1.25",
        "pnl": "2.5",
        "commission": "0",
        "net_pnl": "2.5",
        "currency": "USD",
        "contract": "MNQ 03-25",
        "commission_currency": "USD",
        "points_per_contract": "1.25",
        "trading_day": "2025-01-28",
        "executions": [
            {
                "execution_id": "j1",
                "quantity": 1,
                "role": "entry",
                "commission": "0",
                "commission_currency": "USD",
                "commission_source": "file",
                "price": "100",
                "executed_at": "2025-01-28T15:00:00Z",
                "executed_at_local": "2025-01-28T10:00:00-05:00",
            },
            {
                "execution_id": "j2",
                "quantity": 1,
                "role": "exit",
                "commission": "0",
                "commission_currency": "USD",
                "commission_source": "file",
                "price": "101.25",
                "executed_at": "2025-01-28T15:01:00Z",
                "executed_at_local": "2025-01-28T10:01:00-05:00",
            },
        ],
    }
    # The evening round trip (17:30 Chicago) belongs to the next trading day, and says so.
    assert (data[1]["opened_at_local"], data[1]["trading_day"]) == (
        "2025-01-28T18:30:00-05:00",
        "2025-01-29",
    )
    # Its id hangs on its opening fill: the same after a rebuild.
    run_cli("round-trips", "--rebuild", "--database", settings.database_url)
    again = json.loads(run_cli("round-trips", "--json", *zone, "--database", settings.database_url))
    assert [t["id"] for t in again] == [t["id"] for t in data]
    days = json.loads(run_cli("pnl", "--by", "day", "--json", "--database", settings.database_url))
    assert [(d["day"], d["net_pnl"]) for d in days] == [
        ("2025-01-28", "2.5"),
        ("2025-01-29", "0.96"),
    ]
    months = json.loads(
        run_cli("pnl", "--by", "month", "--json", "--database", settings.database_url)
    )
    assert [(d["month"], d["net_pnl"]) for d in months] == [("2025-01", "3.46")]


def test_csv_output_neutralizes_formula_text_but_keeps_numbers(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """An account named =HYPERLINK(...) is made inert; a negative P&L stays a number."""
    f = write(
        tmp_path / "c.csv",
        [
            row("c1", "Buy", 1, "100", DAY1, account="=HYPERLINK(1)"),
            row("c2", "Sell", 1, "99", DAY1 + timedelta(seconds=1), account="=HYPERLINK(1)"),
        ],
    )
    import_all(engine, settings, f)
    out = run_cli("round-trips", "--csv", "--database", settings.database_url).splitlines()
    assert out[1].split(",", 1)[1].startswith("'=HYPERLINK(1),MNQ MAR25,long,")
    assert ",-1,-1,-2,0,-2,USD," in out[1]  # points, per contract, pnl, commission, net


def test_point_values_setting_adds_and_overrides_with_currency(tmp_path: Path) -> None:
    """point_values in TOML: decimal strings, numbers and { value, currency } tables."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[point_values]\nXYZ = "2.5"\nMNQ = 3\nFDAX = { value = "25", currency = "eur" }\n',
        encoding="utf-8",
    )
    s = load_settings(config_file=cfg, environ={})
    values = dict(s.point_values)
    assert values["XYZ"].value == D("2.5")
    assert values["MNQ"].value == D(3)
    assert (values["FDAX"].value, values["FDAX"].currency) == (D(25), "EUR")


@pytest.mark.parametrize(
    ("toml", "says"),
    [
        ('point_values = "2"', "is not a table"),
        ("[point_values]\nXYZ = -1", "positive decimal"),
        ('[point_values]\nXYZ = "two"', "not a decimal"),
        ('[point_values]\nXYZ = { value = "1", currency = "DOLLARS" }', "3-letter code"),
        ('trading_day_rollover = "5pm Chicago"', 'use "HH:MM ZONE"'),
        ('trading_day_rollover = "17:00 Mars/Olympus"', "not an IANA time zone"),
    ],
)
def test_bad_round_trip_settings_say_what_is_allowed(tmp_path: Path, toml: str, says: str) -> None:
    """A bad point_values or trading_day_rollover is a configuration error naming the fix."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=says.replace("(", r"\(")):
        load_settings(config_file=cfg, environ={})


@pytest.mark.parametrize(
    ("name", "root"),
    [
        ("MNQ 03-26", "MNQ"),
        ("MNQ MAR25", "MNQ"),
        ("MNQH5", "MNQ"),
        ("MNQ SEP25", "MNQ"),
        ("ES JUN26", "ES"),
        ("M2KZ25", "M2K"),
        ("6E 03-25", "6E"),
        ("MES", "MES"),
    ],
)
def test_instrument_roots_whatever_the_name_style(name: str, root: str) -> None:
    """Month names, month numbers and exchange codes all give the same root."""
    assert instrument_root(name) == root


def test_revision_0005_builds_round_trips_for_existing_trades_and_downgrades(
    settings: Settings, tmp_path: Path
) -> None:
    """Upgrading a journal with trades gives their round trips; downgrade removes it all."""
    eng = make_engine(settings)
    try:
        migrate.upgrade(eng, "0004_real_world_files")
        # Today's import reads the retention horizon (0007), keeps a ctime (0008) and a
        # contract (0010): those, for the import only.
        with eng.begin() as conn:
            conn.execute(text("ALTER TABLE import_files ADD COLUMN ctime_ns BIGINT"))
            conn.execute(text("CREATE TABLE ledger_retention (horizon TIMESTAMP)"))
            conn.execute(text("ALTER TABLE trades ADD COLUMN contract VARCHAR(60)"))
            # and a commission's currency (0013)
            conn.execute(text("ALTER TABLE trades ADD COLUMN commission_currency VARCHAR(3)"))
            # and its source (0015)
            conn.execute(text("ALTER TABLE trades ADD COLUMN commission_source VARCHAR(20)"))
            # and a file's pinned reading (0011)
            conn.execute(text("ALTER TABLE import_files ADD COLUMN pinned_date_order VARCHAR(3)"))
            conn.execute(text("ALTER TABLE import_files ADD COLUMN pinned_decimal_mark VARCHAR(1)"))
        f = write(
            tmp_path / "m.csv",
            [row("m1", "Buy", 1, "100", DAY1), row("m2", "Sell", 1, "103", DAY1 + timedelta(1))],
        )
        import_all_without_round_trips(eng, settings, f)
        with eng.begin() as conn:
            conn.execute(text("ALTER TABLE trades DROP COLUMN contract"))
            conn.execute(text("ALTER TABLE trades DROP COLUMN commission_currency"))
            conn.execute(text("ALTER TABLE trades DROP COLUMN commission_source"))
        migrate.upgrade(eng, "0005_round_trips")
        with eng.connect() as conn:
            stored = conn.execute(text("SELECT points, pnl FROM round_trips")).all()
        assert [(D(str(p)), D(str(v))) for p, v in stored] == [(D(3), D(6))]
        migrate.downgrade(eng, "0004_real_world_files")
        with eng.connect() as conn:
            names = set(eng.dialect.get_table_names(conn))
            indexes = {i["name"] for i in eng.dialect.get_indexes(conn, "trades")}
        assert not names & {"round_trips", "round_trip_fills"}
        assert "ix_trades_account_instrument_executed_at" not in indexes
    finally:
        eng.dispose()


def import_all_without_round_trips(engine: Engine, settings: Settings, path: Path) -> None:
    """Insert trades as a release before revision 0005 did (no round-trip tables yet)."""
    from csv_import_daemon.importing import (  # noqa: PLC0415
        file_transaction,
        write_session,
    )

    modules = (file_transaction, write_session)  # mid-file refreshes, refreshes at commits
    saved = [getattr(m, "refresh_round_trips") for m in modules]  # noqa: B009
    for m in modules:
        setattr(m, "refresh_round_trips", lambda *a, **k: 0)  # noqa: B010
    try:
        import_all(engine, settings, path)
    finally:
        for m, real in zip(modules, saved, strict=True):
            setattr(m, "refresh_round_trips", real)  # noqa: B010
