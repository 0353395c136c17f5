"""A commission's currency is kept per trade, from the symbol or code its cell shows."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, text

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.config.trading_day import parse_rollover
from csv_import_daemon.reports.journal_data import PageFilter, load_journal
from csv_import_daemon.trips.pnl import pnl_groups
from support.trip_reference import (
    POINT,
    normalized,
    reference_pnl_by_day,
    reference_round_trips,
    stored_round_trips,
    trades_of,
)
from support.trips import DAY1, cli, cli_json, import_all, row, write


def test_the_commission_currency_is_stored_per_trade(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """'$' is USD, a code is kept as written, no symbol is null (SQLite and PostgreSQL)."""
    f = write(
        tmp_path / "c.csv",
        [
            row("c1", "Buy", 1, "20000", DAY1, instrument="FDAX MAR25", commission="$2.00"),
            row(
                "c2",
                "Sell",
                1,
                "20010",
                DAY1 + timedelta(minutes=1),
                instrument="FDAX MAR25",
                commission="EUR 1.20",
            ),
            row("c3", "Buy", 1, "100", DAY1 + timedelta(minutes=2), commission="1.20"),
        ],
    )
    import_all(engine, settings, f)
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT execution_id, commission_currency FROM trades ORDER BY execution_id")
        ).all()
    assert [tuple(r) for r in stored] == [("c1", "USD"), ("c2", "EUR"), ("c3", None)]


def _fdax_and_mnq(tmp_path: Path) -> Path:
    """FDAX (a euro contract) and MNQ (a dollar one) with '$' commissions, one day."""
    fdax = {"instrument": "FDAX MAR25"}
    return write(
        tmp_path / "fx.csv",
        [
            row("f1", "Buy", 1, "20000", DAY1, commission="$2.00", **fdax),
            row("f2", "Sell", 1, "20010", DAY1 + timedelta(minutes=1), commission="$2.00", **fdax),
            row("m1", "Buy", 1, "100", DAY1, commission="$0.52"),
            row("m2", "Sell", 1, "101", DAY1 + timedelta(minutes=1), commission="$0.52"),
        ],
    )


def test_a_dollar_commission_is_never_netted_with_a_euro_pnl(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """FDAX's EUR P&L and its USD commission are reported apart, never subtracted from
    each other; MNQ's '$' commission is netted with its USD P&L as before. Both equal the
    reference (SQLite and PostgreSQL)."""
    import_all(engine, settings, _fdax_and_mnq(tmp_path))
    db = ("--database", settings.database_url)
    trips = {t["instrument"]: t for t in cli_json("round-trips", *db)}
    fdax, mnq = trips["FDAX MAR25"], trips["MNQ MAR25"]
    assert (fdax["currency"], fdax["pnl"], fdax["commission_currency"], fdax["commission"]) == (
        "EUR",
        "250",
        "USD",
        "4",
    )
    assert fdax["net_pnl"] is None
    assert (mnq["currency"], mnq["pnl"], mnq["commission"], mnq["net_pnl"]) == (
        "USD",
        "2",
        "1.04",
        "0.96",
    )
    assert mnq["commission_currency"] == "USD"
    days = cli_json("pnl", "--by", "day", *db)
    assert [
        (d["currency"], d["pnl"], d["commission"], d["net_pnl"], d["round_trips"]) for d in days
    ] == [("EUR", "250", "0", "250", 1), ("USD", "2", "5.04", "-3.04", 2)]
    point = {**POINT, "FDAX": Decimal(25)}
    fills = trades_of(engine)
    assert normalized(stored_round_trips(engine)) == normalized(reference_round_trips(fills, point))
    with engine.connect() as conn:
        booked = pnl_groups(conn, "day", parse_rollover("17:00 America/Chicago"))
    assert {
        (d["day"], d["currency"]): {"pnl": d["pnl"], "commission": d["commission"]} for d in booked
    } == reference_pnl_by_day(fills, point)


def test_a_round_trip_paid_in_two_currencies_nets_neither_with_the_other(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """MNQ (a dollar contract), entered paying $0.52 and left paying EUR 0.40: the round
    trip has no one commission (commission, its currency and net_pnl null); pnl books the
    dollar commission against the dollar P&L and the euro one in a euro row of its own;
    the round-trips totals say the same. By hand: 1 contract x 1.00 x $2 = $2 P&L,
    $2 - $0.52 = $1.48 net, EUR -0.40 net. SQLite and PostgreSQL."""
    f = write(
        tmp_path / "two.csv",
        [
            row("t1", "Buy", 1, "100", DAY1, commission="$0.52"),
            row("t2", "Sell", 1, "101", DAY1 + timedelta(minutes=1), commission="EUR 0.40"),
        ],
    )
    import_all(engine, settings, f)
    db = ("--database", settings.database_url)
    (trip,) = cli_json("round-trips", *db)
    assert (trip["currency"], trip["pnl"], trip["commission"], trip["commission_currency"]) == (
        "USD",
        "2",
        None,
        None,
    )
    assert trip["net_pnl"] is None
    assert [(e["commission"], e["commission_currency"]) for e in trip["executions"]] == [
        ("0.52", "USD"),
        ("0.4", "EUR"),
    ]
    days = cli_json("pnl", "--by", "day", *db)
    assert [(d["currency"], d["pnl"], d["commission"], d["net_pnl"]) for d in days] == [
        ("EUR", "0", "0.4", "-0.4"),
        ("USD", "2", "0.52", "1.48"),
    ]
    table = cli("round-trips", *db)
    assert table.returncode == 0, table.stderr
    totals = [line for line in table.stdout.splitlines() if line.startswith("total")]
    assert totals == [
        "total EUR: pnl 0  commission 0.4  net_pnl -0.4",
        "total USD: pnl 2  commission 0.52  net_pnl 1.48",
    ]
    fills = trades_of(engine)
    assert normalized(stored_round_trips(engine)) == normalized(reference_round_trips(fills))
    with engine.connect() as conn:
        booked = pnl_groups(conn, "day", parse_rollover("17:00 America/Chicago"))
    assert {
        (d["day"], d["currency"]): {"pnl": d["pnl"], "commission": d["commission"]} for d in booked
    } == reference_pnl_by_day(fills)
    # The journal page's figures book the same: the dollar view nets the dollar commission
    # only, the euro view has the euro one.
    with engine.connect() as conn:
        views = load_journal(conn, PageFilter(), parse_rollover("17:00 America/Chicago")).views
    assert views is not None
    figures = {
        v.currency: (v.summary.gross, v.summary.commission, v.summary.net) for v in views.currencies
    }
    assert figures == {
        "EUR": (Decimal(0), Decimal("0.4"), Decimal("-0.4")),
        "USD": (Decimal(2), Decimal("0.52"), Decimal("1.48")),
    }
