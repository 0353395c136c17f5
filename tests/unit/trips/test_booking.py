"""P&L booked as a broker statement books it: each exit and each commission on the trading
day of its own fill, open round trips included; the filters and the total line; SQLite and
PostgreSQL. Expected values are computed by hand in each docstring."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, text

from csv_import_daemon.config.settings import Settings
from support.trips import cli, cli_json, import_all, row, write

TUE = datetime(2025, 1, 28)  # New York wall clock (the settings' source zone)
WED = datetime(2025, 1, 29)


def _days(settings: Settings, *flags: str) -> list[tuple[str, str, int, str, str, str]]:
    rows = cli_json("pnl", "--by", "day", *flags, "--database", settings.database_url)
    return [
        (r["day"], r["currency"], r["round_trips"], r["pnl"], r["commission"], r["net_pnl"])
        for r in rows
    ]


def _scale_out(tmp_path: Path) -> Path:
    return write(
        tmp_path / "scale.csv",
        [
            row("b1", "Buy", 3, "21000", TUE.replace(hour=14), commission="$1.56"),
            row("s1", "Sell", 1, "21010", TUE.replace(hour=15, minute=30), commission="$0.52"),
            # 18:30 New York is 17:30 Chicago: past the rollover, Wednesday's trading day.
            row("s2", "Sell", 1, "20990", TUE.replace(hour=18, minute=30), commission="$0.52"),
            row("s3", "Sell", 1, "21005.25", WED.replace(hour=10), commission="$0.52"),
        ],
    )


def test_a_scale_out_across_the_chicago_rollover_books_each_exit_on_its_day(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Long 3 MNQ at 21000 ($2 a point), out 1 at 21010 Tuesday, 1 at 20990 after 17:00
    Chicago (Wednesday's session) and 1 at 21005.25 Wednesday.

    The broker statement, by hand:
      Tue 2025-01-28: realized (21010 - 21000) x 2 = 20.00; commission 1.56 + 0.52 = 2.08;
                      net 17.92
      Wed 2025-01-29: realized (20990 - 21000) x 2 + (21005.25 - 21000) x 2 = -20.00 + 10.50
                      = -9.50; commission 0.52 + 0.52 = 1.04; net -10.54
      Together: 10.50 - 3.12 = 7.38, the round trip's own net P&L.
    """
    import_all(engine, settings, _scale_out(tmp_path))
    assert _days(settings) == [
        ("2025-01-28", "USD", 1, "20", "2.08", "17.92"),
        ("2025-01-29", "USD", 1, "-9.5", "1.04", "-10.54"),
    ]
    trips = cli_json("round-trips", "--database", settings.database_url)
    assert [(t["pnl"], t["commission"], t["net_pnl"]) for t in trips] == [("10.5", "3.12", "7.38")]
    weeks = cli_json("pnl", "--by", "week", "--database", settings.database_url)
    assert [(w["week"], w["net_pnl"]) for w in weeks] == [("2025-W05", "7.38")]


def test_a_partial_exit_of_a_position_held_overnight_books_today(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Long 2 at 100 on Tuesday ($0.52 each side a contract), 1 sold at 110.25 on Wednesday,
    still open: Tuesday books the entry's commission 1.04 (net -1.04), Wednesday the exit:
    (110.25 - 100) x 2 = 20.50, commission 0.52, net 19.98. The open round trip reports
    pnl 20.50, commission 1.56: the two days add up to it."""
    f = write(
        tmp_path / "open.csv",
        [
            row("o1", "Buy", 2, "100", TUE.replace(hour=10), commission="$1.04"),
            row("o2", "Sell", 1, "110.25", WED.replace(hour=10), commission="$0.52"),
        ],
    )
    import_all(engine, settings, f)
    assert _days(settings) == [
        ("2025-01-28", "USD", 1, "0", "1.04", "-1.04"),
        ("2025-01-29", "USD", 1, "20.5", "0.52", "19.98"),
    ]
    (trip,) = cli_json("round-trips", "--database", settings.database_url)
    assert (trip["closed_at"], trip["pnl"], trip["commission"]) == (None, "20.5", "1.56")


def test_pnl_filters_by_the_day_of_each_booking_and_match_any_case(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """The scale-out on Sim101 plus one MES round trip on Apex-2 on Wednesday (+1.25 points x
    $5 = 6.25): --since picks Wednesday's bookings only, account and root match any case."""
    other = write(
        tmp_path / "mes.csv",
        [
            row(
                "m1",
                "Buy",
                1,
                "6000",
                WED.replace(hour=11),
                account="Apex-2",
                instrument="MES MAR25",
            ),
            row(
                "m2",
                "Sell",
                1,
                "6001.25",
                WED.replace(hour=12),
                account="Apex-2",
                instrument="MES MAR25",
            ),
        ],
    )
    import_all(engine, settings, _scale_out(tmp_path), other)
    assert _days(settings, "--since", "2025-01-29") == [
        ("2025-01-29", "USD", 2, "-3.25", "1.04", "-4.29"),
    ]
    assert _days(settings, "--until", "2025-01-28") == [
        ("2025-01-28", "USD", 1, "20", "2.08", "17.92"),
    ]
    assert _days(settings, "--account", "apex-2") == [
        ("2025-01-29", "USD", 1, "6.25", "0", "6.25"),
    ]
    assert _days(settings, "--root", "mnq", "--since", "2025-01-29") == [
        ("2025-01-29", "USD", 1, "-9.5", "1.04", "-10.54"),
    ]
    assert _days(settings, "--instrument", "mes mar25") == [
        ("2025-01-29", "USD", 1, "6.25", "0", "6.25"),
    ]
    roots = cli_json("pnl", "--by", "root", "--database", settings.database_url)
    assert [(r["root"], r["net_pnl"]) for r in roots] == [("MES", "6.25"), ("MNQ", "7.38")]
    # round-trips selects by the same day rule: the scale-out has fills on Wednesday.
    wed = cli_json("round-trips", "--since", "2025-01-29", "--database", settings.database_url)
    assert sorted(t["account"] for t in wed) == ["Apex-2", "Sim101"]


def test_a_filter_matching_nothing_lists_the_known_values_and_tables_have_totals(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """--account nobody: no rows, and stderr names the accounts there are. The table ends
    with one total line per currency: 10.50 - 3.12 = 7.38."""
    import_all(engine, settings, _scale_out(tmp_path))
    done = cli("pnl", "--account", "nobody", "--database", settings.database_url)
    assert done.returncode == 0, done.stderr
    assert "no account matches 'nobody' (any case); known: Sim101" in done.stderr
    done = cli("round-trips", "--root", "ES", "--database", settings.database_url)
    assert "no root matches 'ES' (any case); known: MNQ" in done.stderr
    table = cli("pnl", "--by", "month", "--database", settings.database_url).stdout
    assert table.splitlines()[-1] == "total USD: pnl 10.5  commission 3.12  net_pnl 7.38"


def test_pnl_refuses_round_trips_that_disagree_with_trades(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """The entry deleted by hand: pnl fails and says to rebuild instead of booking a guess."""
    import_all(engine, settings, _scale_out(tmp_path))
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM trades WHERE execution_id = 'b1'"))
    done = cli("pnl", "--database", settings.database_url)
    assert done.returncode != 0
    assert "round-trips --rebuild" in done.stderr
    assert cli("round-trips", "--rebuild", "--database", settings.database_url).returncode == 0
    assert _days(settings) == [
        ("2025-01-28", "USD", 1, "0", "0.52", "-0.52"),
        ("2025-01-29", "USD", 1, "0", "1.04", "-1.04"),
    ]


def test_an_evening_fill_is_tomorrows_trading_day_in_pnl_and_filters(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """A round trip opened and closed 17:30-17:40 Chicago on Tuesday: Wednesday's session,
    so --since 2025-01-29 selects it and --until 2025-01-28 does not."""
    f = write(
        tmp_path / "eve.csv",
        [
            row("e1", "Buy", 1, "100", TUE.replace(hour=18, minute=30)),
            row("e2", "Sell", 1, "101", TUE.replace(hour=18, minute=40)),
        ],
    )
    import_all(engine, settings, f)
    assert _days(settings) == [("2025-01-29", "USD", 1, "2", "0", "2")]
    flags = ("--database", settings.database_url)
    assert len(cli_json("round-trips", "--since", "2025-01-29", *flags)) == 1
    assert cli_json("round-trips", "--until", "2025-01-28", *flags) == []
    assert _days(settings, "--until", "2025-01-28") == []


def test_display_timezone_shows_every_time_in_its_zone_and_json_keeps_utc(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """display_timezone = Europe/Berlin: 18:30 New York (23:30Z) reads 00:30+01:00 the next
    calendar day; the trading day is Wednesday's session either way."""
    f = write(
        tmp_path / "eve.csv",
        [
            row("e1", "Buy", 1, "100", TUE.replace(hour=18, minute=30)),
            row("e2", "Sell", 1, "101", TUE.replace(hour=18, minute=40)),
        ],
    )
    import_all(engine, settings, f)
    cfg = tmp_path / "display.toml"
    cfg.write_text('display_timezone = "Europe/Berlin"\n', encoding="utf-8")
    flags = ("--config", str(cfg), "--database", settings.database_url)
    (trip,) = cli_json("round-trips", *flags)
    assert (trip["opened_at"], trip["opened_at_local"], trip["trading_day"]) == (
        "2025-01-28T23:30:00Z",
        "2025-01-29T00:30:00+01:00",
        "2025-01-29",
    )
    table = cli("round-trips", *flags).stdout
    assert "2025-01-29T00:40:00+01:00" in table
    assert "23:30:00Z" not in table


def test_the_last_second_before_the_rollover_and_the_rollover_itself_book_apart() -> None:
    """Exits at 16:59:59 and 17:00:00 Chicago (22:59:59 and 23:00:00 UTC in January) on a
    Tuesday: Tuesday's and Wednesday's trading days; the day is remembered per minute."""
    from decimal import Decimal  # noqa: PLC0415

    from csv_import_daemon.config.point_values import PointValues  # noqa: PLC0415
    from csv_import_daemon.config.trading_day import parse_rollover  # noqa: PLC0415
    from csv_import_daemon.trips.booking import PartRow, book  # noqa: PLC0415

    entry = datetime(2025, 1, 28, 15, 0)
    parts = [
        PartRow(1, "A", "MNQ MAR25", "long", "entry", 1, None, Decimal(100), entry),
        PartRow(
            1,
            "A",
            "MNQ MAR25",
            "long",
            "exit",
            1,
            None,
            Decimal(101),
            TUE.replace(hour=22, minute=59, second=59),
        ),
        PartRow(2, "A", "MNQ MAR25", "long", "entry", 1, None, Decimal(100), entry),
        PartRow(2, "A", "MNQ MAR25", "long", "exit", 1, None, Decimal(101), TUE.replace(hour=23)),
    ]
    rollover = parse_rollover("17:00 America/Chicago")
    days = [b.day.isoformat() for b in book(parts, PointValues(), rollover) if b.points]
    assert days == ["2025-01-28", "2025-01-29"]
