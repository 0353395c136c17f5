"""Round trips that no longer agree with trades or with the point values in force are said
so by ``status`` and the report commands, with the fix; SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, text

from csv_import_daemon.config.settings import Settings
from support.trips import cli, cli_json, import_all, row, write

TUE = datetime(2025, 1, 28)  # New York wall clock (the settings' source zone)


def _one_round_trip(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    f = write(
        tmp_path / "t.csv",
        [
            row("t1", "Buy", 2, "100", TUE.replace(hour=10)),
            row("t2", "Sell", 2, "101.5", TUE.replace(hour=11)),
        ],
    )
    import_all(engine, settings, f)


def test_a_trade_deleted_by_hand_is_reported_until_a_rebuild(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """t2 deleted: one round-trip fill no longer in trades (t1's 2 contracts still match its
    part: no quantity difference); status --json, status and round-trips say so and name the
    rebuild; after it, all agree again. Then t1 resized to 3 by hand: 1 contract apart."""
    _one_round_trip(engine, settings, tmp_path)
    db = ("--database", settings.database_url)
    assert json.loads(cli("status", "--json", *db).stdout)["round_trips"]["stale"] is False
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM trades WHERE execution_id = 't2'"))
    report = json.loads(cli("status", "--json", *db).stdout)["round_trips"]
    assert (report["stale"], report["fills_without_trade"], report["quantity_difference"]) == (
        True,
        1,
        0,
    )
    assert "round trips disagree with trades" in cli("status", *db).stdout
    done = cli("round-trips", *db)
    assert "1 round-trip fills no longer in trades" in done.stderr
    assert "round-trips --rebuild" in done.stderr
    assert cli("round-trips", "--rebuild", *db).returncode == 0
    assert json.loads(cli("status", "--json", *db).stdout)["round_trips"]["stale"] is False
    assert "disagree" not in cli("round-trips", *db).stderr
    with engine.begin() as conn:
        conn.execute(text("UPDATE trades SET quantity = 3 WHERE execution_id = 't1'"))
    assert "1 contracts differ from trades" in cli("round-trips", *db).stderr


def test_a_changed_point_value_is_applied_by_pnl_and_flagged_by_round_trips(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """MNQ set to 3 a point after the import: pnl books 1.5 points x 2 contracts x 3 = 9
    (the settings in force), round-trips still shows the stored 6 (at 2 a point) and says
    MNQ MAR25 was computed with another value; a rebuild stores 9."""
    _one_round_trip(engine, settings, tmp_path)
    cfg = tmp_path / "pv.toml"
    cfg.write_text("[point_values]\nMNQ = 3\n", encoding="utf-8")
    flags = ("--config", str(cfg), "--database", settings.database_url)
    assert [d["pnl"] for d in cli_json("pnl", *flags)] == ["9"]
    done = cli("round-trips", *flags)
    assert "P&L computed with other point values (MNQ MAR25)" in done.stderr
    assert [t["pnl"] for t in cli_json("round-trips", *flags)] == ["6"]
    assert cli("round-trips", "--rebuild", *flags).returncode == 0
    assert [t["pnl"] for t in cli_json("round-trips", *flags)] == ["9"]
    assert "disagree" not in cli("round-trips", *flags).stderr


def test_a_position_column_that_disagrees_is_reported_never_trusted(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Sell 1 short then Buy 1 whose Position cell says `1 S` (NinjaTrader saw a fill we do
    not have): we compute flat, the file says 1 short; status and round-trips report it,
    and the round trip stays as computed."""
    first = row("p1", "Sell", 1, "100", TUE.replace(hour=10)).replace(",-,o1,", ",1 S,o1,")
    last = row("p2", "Buy", 1, "99", TUE.replace(hour=11)).replace(",-,o1,", ",1 S,o1,")
    import_all(engine, settings, write(tmp_path / "p.csv", [first, last]))
    db = ("--database", settings.database_url)
    report = json.loads(cli("status", "--json", *db).stdout)
    assert report["positions"] == [
        {"account": "Sim101", "instrument": "MNQ MAR25", "file_says": -1, "computed": 0}
    ]
    said = "Sim101 MNQ MAR25: the file's Position column says 1 short after its last fill"
    assert said in cli("status", *db).stdout
    done = cli("round-trips", "--json", *db)
    assert said in done.stderr
    assert [t["closed_at"] is not None for t in json.loads(done.stdout)] == [True]


def test_a_position_column_that_agrees_or_is_absent_says_nothing(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Long 2 then out 1 with Position `1 L` (agrees); a second account without Position
    cells: nothing to report."""
    f = write(
        tmp_path / "ok.csv",
        [
            row("q1", "Buy", 2, "100", TUE.replace(hour=10)).replace(",-,o1,", ",2 L,o1,"),
            row("q2", "Sell", 1, "101", TUE.replace(hour=11)).replace(",-,o1,", ",1 L,o1,"),
            row("q3", "Buy", 1, "100", TUE.replace(hour=10), account="B").replace(
                ",-,o1,", ",,o1,"
            ),
        ],
    )
    import_all(engine, settings, f)
    db = ("--database", settings.database_url)
    assert json.loads(cli("status", "--json", *db).stdout)["positions"] == []
    assert "Position column" not in cli("round-trips", *db).stderr


def test_edits_that_cancel_out_are_found_by_the_thorough_check(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """t2 deleted and t3 of the same 2 contracts added by hand: the quantity sums agree, so
    the first look (status, the report commands) passes; the thorough check (verify) sees
    one part whose trade is gone and one trade in no round trip."""
    from csv_import_daemon.trips.consistency import check_round_trips  # noqa: PLC0415

    _one_round_trip(engine, settings, tmp_path)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO trades (execution_id, account, instrument, action, entry_exit, "
                "quantity, price, executed_at, commission, order_id, order_name, connection, "
                "position_after, source_file, source_line, imported_at, extra) "
                "SELECT 't3', account, instrument, action, entry_exit, quantity, price, "
                "executed_at, commission, order_id, order_name, connection, position_after, "
                "source_file, source_line, imported_at, extra FROM trades "
                "WHERE execution_id = 't2'"
            )
        )
        conn.execute(text("DELETE FROM trades WHERE execution_id = 't2'"))
    with engine.connect() as conn:
        assert not check_round_trips(conn).stale
        drift = check_round_trips(conn, thorough=True)
    assert (drift.fills_without_trade, drift.trades_without_round_trip) == (1, 1)


def test_verify_fails_on_stale_round_trips_and_reports_positions(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """verify exits 1 while the round trips disagree with trades (t2 deleted by hand) or
    with the point values in force (MNQ set to 3), 0 after a rebuild; a Position column
    that disagrees is listed, never a failure."""
    _one_round_trip(engine, settings, tmp_path)
    db = ("--database", settings.database_url)
    done = cli("verify", "--json", *db)
    assert done.returncode == 0, done.stdout
    assert json.loads(done.stdout)["round_trips"]["stale"] is False
    cfg = tmp_path / "pv.toml"
    cfg.write_text("[point_values]\nMNQ = 3\n", encoding="utf-8")
    done = cli("verify", "--json", "--config", str(cfg), *db)
    assert done.returncode == 1
    assert json.loads(done.stdout)["round_trips"]["point_values_changed"] == ["MNQ MAR25"]
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM trades WHERE execution_id = 't2'"))
    done = cli("verify", "--json", *db)
    assert done.returncode == 1
    report = json.loads(done.stdout)["round_trips"]
    assert (report["stale"], report["fills_without_trade"]) == (True, 1)
    assert "round-trips --rebuild" in cli("verify", *db).stdout
    assert cli("round-trips", "--rebuild", *db).returncode == 0
    assert cli("verify", *db).returncode == 0


def test_a_position_that_disagrees_is_a_warning_at_import_and_in_verify(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """The file says 1 short after its last fill, the round trips say flat: the import
    logs ``position_mismatch``, verify lists it and still exits 0."""
    from structlog.testing import capture_logs  # noqa: PLC0415

    first = row("p1", "Sell", 1, "100", TUE.replace(hour=10)).replace(",-,o1,", ",1 S,o1,")
    last = row("p2", "Buy", 1, "99", TUE.replace(hour=11)).replace(",-,o1,", ",1 S,o1,")
    with capture_logs() as logs:
        import_all(engine, settings, write(tmp_path / "p.csv", [first, last]))
    warned = [e for e in logs if e["event"] == "position_mismatch"]
    assert [(e["account"], e["instrument"], e["file_says"], e["computed"]) for e in warned] == [
        ("Sim101", "MNQ MAR25", -1, 0)
    ]
    done = cli("verify", "--json", "--database", settings.database_url)
    assert done.returncode == 0, done.stdout
    (listed,) = json.loads(done.stdout)["positions"]
    assert (listed["instrument"], listed["file_says"], listed["computed"]) == ("MNQ MAR25", -1, 0)


def test_a_connection_that_writes_dash_on_every_fill_says_nothing(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Long 2 with `-` on every fill (such connections exist): `-` is no evidence of flat,
    so no position_mismatch at import, in status or in verify. With `2 L` on the entry, the
    same last `-` is evidence: reported."""
    from structlog.testing import capture_logs  # noqa: PLC0415

    f = write(
        tmp_path / "dash.csv",
        [
            row("d1", "Buy", 1, "100", TUE.replace(hour=10)),
            row("d2", "Buy", 1, "100", TUE.replace(hour=11)),
        ],
    )
    with capture_logs() as logs:
        import_all(engine, settings, f)
    assert [e for e in logs if e["event"] == "position_mismatch"] == []
    db = ("--database", settings.database_url)
    assert json.loads(cli("status", "--json", *db).stdout)["positions"] == []
    g = write(
        tmp_path / "real.csv",
        [
            row("r1", "Buy", 2, "100", TUE.replace(hour=10), account="B").replace(
                ",-,o1,", ",2 L,o1,"
            ),
            row("r2", "Sell", 1, "101", TUE.replace(hour=11), account="B"),
        ],
    )
    with capture_logs() as logs:
        import_all(engine, settings, g)
    warned = [
        (e["account"], e["file_says"], e["computed"])
        for e in logs
        if e["event"] == "position_mismatch"
    ]
    assert warned == [("B", 0, 1)]


def _swap(engine: Engine, old: str, new: str) -> None:
    """A trade replaced by hand by a copy under another ID: the quantity sums still agree."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO trades (execution_id, account, instrument, action, entry_exit, "
                "quantity, price, executed_at, commission, order_id, order_name, connection, "
                "position_after, source_file, source_line, imported_at, extra, contract, "
                "commission_currency, time_precision, commission_source) "
                "SELECT :new, account, instrument, action, entry_exit, quantity, price, "
                "executed_at, commission, order_id, order_name, connection, position_after, "
                "source_file, source_line, imported_at, extra, contract, commission_currency, "
                "time_precision, commission_source FROM trades WHERE execution_id = :old"
            ),
            {"new": new, "old": old},
        )
        conn.execute(text("DELETE FROM trades WHERE execution_id = :old"), {"old": old})


def test_verify_of_a_file_works_out_its_own_round_trips_and_sums_up_the_rest(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """verify FILE works out the detail (the thorough check) for the file's own fills and
    the round trips around them, and gives the rest of the journal status's first look
    (the quantity sums). The day before's o2 replaced by hand by o3 of the same quantity
    (the sums agree): verify of today's file passes, verify of that day's file and verify
    of the whole journal find it. The same edit in today's round trip (t2 -> t3): verify
    of today's file finds it. A trade deleted the day before (the sums differ): verify of
    today's file finds it too, with the whole journal's detail."""
    mon = TUE.replace(day=27)
    mine = write(
        tmp_path / "mine.csv",
        [
            row("t1", "Buy", 2, "100", TUE.replace(hour=10)),
            row("t2", "Sell", 2, "101.5", TUE.replace(hour=11)),
        ],
    )
    other = write(
        tmp_path / "other.csv",
        [
            row("o1", "Buy", 1, "100", mon.replace(hour=10)),
            row("o2", "Sell", 1, "101", mon.replace(hour=11)),
        ],
    )
    import_all(engine, settings, other, mine)
    db = ("--database", settings.database_url)

    def verify(*files: Path) -> tuple[int, dict[str, object]]:
        done = cli("verify", "--json", *map(str, files), *db)
        return done.returncode, json.loads(done.stdout)["round_trips"]

    def found(report: dict[str, object]) -> tuple[object, ...]:
        return (
            report["stale"],
            report["fills_without_trade"],
            report["trades_without_round_trip"],
            report["quantity_difference"],
        )

    code, report = verify(mine)
    assert (code, found(report)) == (0, (False, 0, 0, 0))
    _swap(engine, "o2", "o3")
    code, report = verify(mine)
    assert (code, found(report)) == (0, (False, 0, 0, 0))
    code, report = verify(other)  # o2's part has no trade; o3 lies outside o1's time
    assert (code, found(report)) == (1, (True, 1, 0, 0))
    code, report = verify()  # o3's contract in no round trip, too
    assert (code, found(report)) == (1, (True, 1, 1, 1))
    _swap(engine, "t2", "t3")
    code, report = verify(mine)
    assert (code, found(report)) == (1, (True, 1, 0, 0))
    assert "round-trips --rebuild" in cli("verify", str(mine), *db).stdout
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM trades WHERE execution_id = 'o1'"))
    code, report = verify(mine)  # parts o1, o2, t2 without a trade; o3, t3 in none
    assert (code, found(report)) == (1, (True, 3, 2, 3))
