"""One contract, whatever its spelling: ``MNQ 06-26``, ``MNQ JUN26``, ``MNQM26``, ``MNQM6``.

Round trips are per (account, contract); a genuine roll (close June, open September) stays
two round trips and ``pnl --by root`` adds them up. Expected values come from the
independent reference (``support.trip_reference.ref_contract``) or by hand.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from csv_import_daemon.config.contracts import contract_of
from csv_import_daemon.config.settings import Settings
from support.trip_reference import (
    normalized,
    ref_contract,
    reference_round_trips,
    stored_round_trips,
    trades_of,
)
from support.trips import cli_json, import_all, row, write

MARCH = datetime(2026, 3, 16, 10, 0, 0)  # New York wall clock (a day over 12: no date-order doubt)
NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


@pytest.mark.parametrize(
    ("name", "on", "contract"),
    [
        ("MNQ 06-26", None, "MNQ 06-26"),
        ("MNQ JUN26", None, "MNQ 06-26"),
        ("mnq jun26", None, "MNQ 06-26"),
        ("MNQM26", None, "MNQ 06-26"),
        ("MNQM6", date(2026, 3, 2), "MNQ 06-26"),
        ("MNQM6", date(2026, 6, 19), "MNQ 06-26"),  # in its own expiry month
        ("MNQM6", date(2026, 7, 1), "MNQ 06-36"),  # June 2026 is past: the next June 6
        ("MNQH6", date(2025, 12, 15), "MNQ 03-26"),
        ("6EH6", date(2026, 1, 5), "6E 03-26"),
        ("MNQM6", None, "MNQM6"),  # a one-digit year without a fill's date: no guess
        ("BTCUSD", None, "BTCUSD"),
        ("MNQ 13-26", None, "MNQ 13-26"),  # no month 13: its own contract
        (" MES SEP25 ", None, "MES 09-25"),
    ],
)
def test_contract_names(name: str, on: date | None, contract: str) -> None:
    assert contract_of(name, on) == contract


def test_contract_rule_agrees_with_the_reference_on_random_names() -> None:
    rng = random.Random(7)
    styles = (
        lambda r, y, m: f"{r} {m:02d}-{y % 100:02d}",
        lambda r, y, m: f"{r} {NAMES[m - 1]}{y % 100:02d}",
        lambda r, y, m: f"{r}{'FGHJKMNQUVXZ'[m - 1]}{y % 100:02d}",
        lambda r, y, m: f"{r}{'FGHJKMNQUVXZ'[m - 1]}{y % 10}",
    )
    for _ in range(2000):
        root = rng.choice(("MNQ", "ES", "6E", "M2K", "FDAX"))
        year, month = rng.randint(2020, 2035), rng.randint(1, 12)
        name = rng.choice(styles)(root, year, month)
        when = datetime(rng.randint(2019, 2035), rng.randint(1, 12), rng.randint(1, 28))
        assert contract_of(name, when.date()) == ref_contract(name, when), (name, when)


def _spellings(tmp_path: Path) -> list[Path]:
    """Bought 2 as ``MNQ 06-26``, sold 1 as ``MNQ JUN26`` and 1 as ``MNQM6``, three files."""
    day = timedelta(days=1)
    return [
        write(tmp_path / "a.csv", [row("s1", "Buy", 2, "20000", MARCH, instrument="MNQ 06-26")]),
        write(
            tmp_path / "b.csv",
            [row("s2", "Sell", 1, "20010.25", MARCH + day, instrument="MNQ JUN26")],
        ),
        write(
            tmp_path / "c.csv",
            [row("s3", "Sell", 1, "19995.5", MARCH + 2 * day, instrument="MNQM6")],
        ),
    ]


def test_three_spellings_of_one_contract_make_one_round_trip(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """One file at a time (each continues the open round trip): one closed round trip,
    shown with its opening fill's text; the trades keep theirs."""
    import_all(engine, settings, *_spellings(tmp_path))
    stored = normalized(stored_round_trips(engine))
    assert stored == normalized(reference_round_trips(trades_of(engine)))
    # By hand: (20010.25 - 20000) + (19995.5 - 20000) = 5.75 points, $11.50 on MNQ.
    (trip,) = stored
    assert (trip["instrument"], trip["contract"], trip["open_quantity"]) == (
        "MNQ 06-26",
        "MNQ 06-26",
        0,
    )
    assert (str(trip["points"]), str(trip["pnl"])) == ("5.75", "11.5")
    assert sorted(f.instrument for f in trades_of(engine)) == ["MNQ 06-26", "MNQ JUN26", "MNQM6"]
    # The filter finds it by any spelling whose year is certain.
    url = settings.database_url
    for spelling in ("mnq jun26", "MNQM26", "MNQ 06-26"):
        found = cli_json("round-trips", "--instrument", spelling, "--database", url)
        assert [t["id"] for t in found] == [trip["id"]]


def test_a_roll_stays_two_round_trips_and_pnl_by_root_adds_them(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Close June, open September the same minute: two round trips, one root."""
    at = MARCH.replace(month=6, day=15)
    f = write(
        tmp_path / "roll.csv",
        [
            row("r1", "Buy", 1, "20000", at, instrument="MNQ JUN26"),
            row("r2", "Sell", 1, "20004", at + timedelta(hours=1), instrument="MNQM6"),
            row("r3", "Buy", 1, "20100", at + timedelta(hours=1), instrument="MNQU6"),
            row("r4", "Sell", 1, "20101.5", at + timedelta(hours=2), instrument="MNQ SEP26"),
        ],
    )
    import_all(engine, settings, f)
    stored = normalized(stored_round_trips(engine))
    assert stored == normalized(reference_round_trips(trades_of(engine)))
    assert [(t["contract"], str(t["pnl"])) for t in stored] == [
        ("MNQ 06-26", "8"),
        ("MNQ 09-26", "3"),
    ]
    url = settings.database_url
    roots = cli_json("pnl", "--by", "root", "--database", url)
    assert [(r["root"], r["round_trips"], r["pnl"]) for r in roots] == [("MNQ", 2, "11")]
    # By contract: every spelling of June is one row, September another; by instrument the
    # names as written stay apart (each exit books under its round trip's opening name).
    contracts = cli_json("pnl", "--by", "contract", "--database", url)
    assert [(r["contract"], r["round_trips"], r["pnl"]) for r in contracts] == [
        ("MNQ 06-26", 1, "8"),
        ("MNQ 09-26", 1, "3"),
    ]


def test_pnl_by_contract_joins_the_spellings_of_one_contract(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Two round trips of June, opened as ``MNQ 06-26`` and as ``MNQ JUN26``: two rows by
    instrument, one by contract (by hand: 2 x $2 + 3 x $2 = $10)."""
    f = write(
        tmp_path / "spellings.csv",
        [
            row("s1", "Buy", 1, "20000", MARCH, instrument="MNQ 06-26"),
            row("s2", "Sell", 1, "20002", MARCH + timedelta(minutes=1), instrument="MNQ JUN26"),
            row("s3", "Buy", 1, "20000", MARCH + timedelta(minutes=2), instrument="MNQ JUN26"),
            row("s4", "Sell", 1, "20003", MARCH + timedelta(minutes=3), instrument="MNQ 06-26"),
        ],
    )
    import_all(engine, settings, f)
    url = settings.database_url
    by_instrument = cli_json("pnl", "--by", "instrument", "--database", url)
    assert [(r["instrument"], r["pnl"]) for r in by_instrument] == [
        ("MNQ 06-26", "4"),
        ("MNQ JUN26", "6"),
    ]
    by_contract = cli_json("pnl", "--by", "contract", "--database", url)
    assert [(r["contract"], r["round_trips"], r["pnl"]) for r in by_contract] == [
        ("MNQ 06-26", 2, "10")
    ]
