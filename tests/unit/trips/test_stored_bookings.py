"""pnl from the stored bookings (``round_trip_bookings``, summed in SQL) equals the replay of
every part (``reference_pnl_groups``) to the last digit: randomized journals (scale-outs,
reversals, open positions, fills around the rollover and a DST change, $ and EUR
commissions, a root without a point value), every grouping, the filters, several
rollovers (one that cuts UTC hours), point values with places; the backfill of revision
0018 writes what the imports wrote; verify sees bookings that disagree. SQLite and
PostgreSQL."""

from __future__ import annotations

import dataclasses
import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from csv_import_daemon.config.point_values import PointValue, PointValues
from csv_import_daemon.config.settings import Settings
from csv_import_daemon.config.trading_day import parse_rollover
from csv_import_daemon.db import migrate
from csv_import_daemon.db.tables import ROUND_TRIPS
from csv_import_daemon.trips.booking import GROUPS
from csv_import_daemon.trips.consistency import check_round_trips
from csv_import_daemon.trips.pnl import pnl_groups, reference_pnl_groups
from csv_import_daemon.trips.queries import TripFilter
from support.trips import import_all, row, write

START = datetime(2025, 3, 5, 8, 0)  # New York wall clock; US clocks change on March 9
INSTRUMENTS = ("MNQ MAR25", "FDAX MAR25", "ZZZ MAR25")  # ZZZ: no point value
ROLLOVERS = ("17:00 America/Chicago", "17:30 America/Chicago", "00:00 UTC", "09:15 Asia/Kathmandu")


def _fills(rng: random.Random, count: int, start: datetime) -> list[str]:
    """Random walks of positions per (account, instrument), a fill every few minutes to
    hours (several in one second now and then), prices with 0-4 places."""
    lines = []
    for n in range(count):
        account = rng.choice(("Sim101", "Apex-2"))
        instrument = rng.choice(INSTRUMENTS)
        when = start + timedelta(minutes=rng.randrange(0, 8 * 24 * 60, 7))
        if rng.random() < 0.1:  # around the Chicago rollover (18:00 New York)
            when = when.replace(hour=17, minute=rng.choice((58, 59))) + timedelta(minutes=1)
        places = rng.choice((0, 2, 2, 4))
        price = f"{rng.randrange(2_000_000, 2_100_000) / 100:.{places}f}"
        commission = rng.choice(("$0.52", "$1.04", "$0.00", "€0.70", "$0.13"))
        lines.append(
            row(
                f"x{n:04d}",
                rng.choice(("Buy", "Sell")),
                rng.randint(1, 4),
                price,
                when.replace(second=rng.choice((0, 0, 17))),
                account=account,
                instrument=instrument,
                commission=commission,
            )
        )
    return lines


@pytest.fixture
def journal(engine: Engine, settings: Settings, tmp_path: Path) -> Engine:
    """400 random fills in four files imported out of order (recomputes), then 60 later
    ones (appends to the open round trips)."""
    rng = random.Random(20261205)
    lines = _fills(rng, 400, START)
    rng.shuffle(lines)
    files = [write(tmp_path / f"f{i}.csv", lines[i::4]) for i in range(4)]
    later = write(tmp_path / "later.csv", _fills(rng, 60, START + timedelta(days=9)))
    import_all(engine, dataclasses.replace(settings, date_order="mdy"), *files, later)
    return engine


def _same(engine: Engine, by: str, rollover: str, values: PointValues, flt: TripFilter) -> None:
    rule = parse_rollover(rollover)
    with engine.connect() as conn:
        stored = pnl_groups(conn, by, rule, values=values, flt=flt)  # type: ignore[arg-type]
        replayed = reference_pnl_groups(conn, by, rule, values=values, flt=flt)  # type: ignore[arg-type]
    assert stored == replayed, (by, rollover, flt)
    assert stored  # the comparison is not of two empty lists


def test_pnl_from_stored_bookings_equals_the_replay_for_every_grouping_and_rollover(
    journal: Engine,
) -> None:
    for rollover in ROLLOVERS:
        for by in GROUPS:
            _same(journal, by, rollover, PointValues(), TripFilter())


def test_pnl_from_stored_bookings_equals_the_replay_with_filters_and_point_values(
    journal: Engine,
) -> None:
    """--since/--until on days of the DST week, an account, a root; and point values whose
    places leave no room for a part's 4-place points below 1e-8 (those are replayed)."""
    filters = [
        TripFilter(since=date(2025, 3, 8)),
        TripFilter(until=date(2025, 3, 10)),
        TripFilter(since=date(2025, 3, 9), until=date(2025, 3, 10), account="apex-2"),
        TripFilter(root="fdax"),
        TripFilter(instrument="MNQ MAR25", since=date(2025, 3, 11)),
    ]
    for flt in filters:
        for rollover in ROLLOVERS[:2]:
            _same(journal, "day", rollover, PointValues(), flt)
    fine = PointValues({"MNQ": PointValue(Decimal("0.123456")), "ZZZ": PointValue(Decimal("3"))})
    for by in ("day", "account", "month", "contract"):
        _same(journal, by, "17:30 America/Chicago", fine, TripFilter())


def _bookings(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT b.account, b.contract, b.instrument, b.commission_currency, b.utc_hour, "
                "t.opened_at, sum(b.points), sum(b.commission), max(b.charged), max(b.places), "
                "sum(b.parts) FROM round_trip_bookings b JOIN round_trips t "
                "ON t.id = b.round_trip_id GROUP BY b.account, b.contract, b.instrument, "
                "b.commission_currency, b.utc_hour, t.id, t.opened_at"
            )
        ).all()
    return sorted((tuple(str(v) for v in r) for r in rows), key=str)


def test_revision_0018_fills_the_bookings_of_stored_round_trips(journal: Engine) -> None:
    """Down to 0014 (the table goes), up again: the backfill writes the bookings the
    imports wrote (summed per round trip and hour: appends may add rows), pnl unchanged."""
    before = _bookings(journal)
    with journal.connect() as conn:
        rule = parse_rollover("17:00 America/Chicago")
        expected = reference_pnl_groups(conn, "day", rule)
    migrate.downgrade(journal, "0017_commission_source")
    migrate.upgrade(journal)
    assert _bookings(journal) == before
    assert len(before) > 100
    with journal.connect() as conn:
        assert pnl_groups(conn, "day", rule) == expected


def test_verify_reports_bookings_that_disagree_with_their_round_trips(journal: Engine) -> None:
    """A booking row lost or its points edited: the round trips are stale (the quick check
    sees the lost row, verify's thorough one the edit too); a rebuild mends both."""
    with journal.connect() as conn:
        assert not check_round_trips(conn, thorough=True).stale
    with journal.begin() as conn:
        conn.execute(
            text(
                "UPDATE round_trip_bookings SET points = points + 1 WHERE round_trip_id = "
                "(SELECT min(round_trip_id) FROM round_trip_bookings WHERE points <> 0)"
            )
        )
    with journal.connect() as conn:
        assert not check_round_trips(conn).stale
        drift = check_round_trips(conn, thorough=True)
    assert (drift.stale, drift.bookings_differ) == (True, 1)
    assert "bookings" in drift.describe()
    with journal.begin() as conn:
        conn.execute(
            text(
                "DELETE FROM round_trip_bookings WHERE round_trip_id = "
                "(SELECT max(round_trip_id) FROM round_trip_bookings)"
            )
        )
    with journal.connect() as conn:
        assert check_round_trips(conn).stale
        assert check_round_trips(conn, thorough=True).bookings_differ == 2


def test_verify_of_files_compares_the_bookings_of_the_round_trips_around_their_fills(
    journal: Engine,
) -> None:
    """verify FILE (``spans``: where the files' fills lie) compares each round trip that
    overlaps them with its bookings: a booking's points edited in one round trip is found
    from a span at its opening, not from another (account, contract)'s span nor from one
    after it closed; its first look (the counts) still agrees."""
    with journal.begin() as conn:
        edited = conn.scalar(
            text(
                "SELECT min(round_trip_id) FROM round_trip_bookings WHERE points <> 0 "
                "AND round_trip_id IN (SELECT id FROM round_trips WHERE closed_at IS NOT NULL)"
            )
        )
        trip = conn.execute(select(ROUND_TRIPS).where(ROUND_TRIPS.c.id == edited)).one()
        other = conn.execute(
            select(ROUND_TRIPS).where(
                (ROUND_TRIPS.c.account != trip.account) | (ROUND_TRIPS.c.contract != trip.contract)
            )
        ).first()
        conn.execute(
            text("UPDATE round_trip_bookings SET points = points + 1 WHERE round_trip_id = :i"),
            {"i": edited},
        )
    assert other is not None
    at = (trip.account, trip.contract, trip.opened_at, trip.opened_at)
    elsewhere = (other.account, other.contract, other.opened_at, other.closed_at or other.opened_at)
    later = trip.closed_at + timedelta(seconds=1)
    after = (trip.account, trip.contract, later, later + timedelta(days=1))
    with journal.connect() as conn:
        drift = check_round_trips(conn, thorough=True, spans=[at])
        assert (drift.stale, drift.bookings_differ) == (True, 1)
        assert check_round_trips(conn, thorough=True, spans=[elsewhere, after]).bookings_differ == 0
        assert check_round_trips(conn, thorough=True, spans=[elsewhere, at]).bookings_differ == 1


def test_amounts_beyond_64_bits_are_replayed_exactly(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Long 100 BIG at 100,000,000,000.25, out at 900,000,000,000.5 (the widest prices a
    fill holds): 80,000,000,000,025 points, beyond 64 bits in 1e-8 units. The booking is
    stored without an amount (places 99) and pnl replays that round trip: the same answer,
    80,000,000,000,025 x 3 = 240,000,000,000,075 (point value 3 set for BIG)."""
    when = START.replace(hour=10)
    f = write(
        tmp_path / "big.csv",
        [
            row("g1", "Buy", 100, "100000000000.25", when, instrument="BIG MAR25"),
            row("g2", "Sell", 100, "900000000000.5", when.replace(hour=11), instrument="BIG MAR25"),
            row("m1", "Buy", 1, "20000", when, instrument="MNQ MAR25"),
            row("m2", "Sell", 1, "20001.5", when.replace(hour=11), instrument="MNQ MAR25"),
        ],
    )
    import_all(engine, dataclasses.replace(settings, date_order="mdy"), f)
    with engine.connect() as conn:
        places = sorted(
            conn.execute(
                text(
                    "SELECT instrument, places, points FROM round_trip_bookings "
                    "WHERE points IS NULL OR points <> 0"  # the exits' hour
                )
            ).all()
        )
    assert [(i, p, n) for i, p, n in places] == [
        ("BIG MAR25", 99, None),
        ("MNQ MAR25", 2, 150_000_000),
    ]
    values = PointValues({"BIG": PointValue(Decimal(3))})
    rule = parse_rollover("17:00 America/Chicago")
    with engine.connect() as conn:
        stored = pnl_groups(conn, "instrument", rule, values=values)
        assert stored == reference_pnl_groups(conn, "instrument", rule, values=values)
    assert [(g["instrument"], g["pnl"]) for g in stored] == [
        ("BIG MAR25", Decimal("240000000000075")),
        ("MNQ MAR25", Decimal(3)),
    ]
