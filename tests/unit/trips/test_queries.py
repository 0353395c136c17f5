"""CSV for spreadsheets: no part of any cell starts a live formula whether the line is
split on ",", ";" (de-DE, fr-FR) or TAB; numbers stay numbers."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest
from sqlalchemy import Engine

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.trips.queries import csv_text
from support.processes import run_cli
from support.trips import DAY1, import_all, row, write

SEPARATORS = (",", ";", "\t")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
HOSTILE = (
    "acct;=2+3;x",
    'x;=HYPERLINK("http://evil.example";"click")',
    "a\t@SUM(1+1)",
    'quoted,"; =1+1"',
    "+1",
    "-cmd",
    "ok;-5",
)


def live_parts(text: str) -> list[str]:
    """Parts of ``text``'s lines, split on each separator, that a spreadsheet would read as
    a formula: starting (after blanks and quotes) with a formula character, and not a
    number."""
    found = []
    for line in text.splitlines():
        for sep in SEPARATORS:
            for part in line.split(sep):
                bare = part.lstrip(' "')
                if not bare.startswith(FORMULA_START):
                    continue
                try:
                    Decimal(bare.rstrip('"'))
                except InvalidOperation:
                    found.append(part)
    return found


def test_no_part_of_a_text_cell_starts_a_formula_under_any_separator() -> None:
    """Hostile text in every shape: nothing live under ',', ';' or TAB; the comma reading
    keeps the text (one apostrophe before each neutralised part) and the numbers."""
    out = csv_text(["name", "n", "m"], [[t, Decimal("-12.50"), -3] for t in HOSTILE])
    assert live_parts(out) == []
    cells = list(csv.reader(io.StringIO(out)))[1:]
    assert [c[0].replace("'", "") for c in cells] == [t.replace("'", "") for t in HOSTILE]
    assert {(c[1], c[2]) for c in cells} == {("-12.5", "-3")}
    assert cells[0][0] == "acct;'=2+3;x"


def test_round_trips_csv_is_inert_for_semicolon_spreadsheets(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """An account named ``acct;=2+3;x`` through import and ``round-trips --csv``: no live
    part under any separator, and the negative P&L still a number."""
    account = "acct;=2+3;x"
    f = write(
        tmp_path / "c.csv",
        [
            row("c1", "Buy", 1, "100", DAY1, account=account),
            row("c2", "Sell", 1, "99", DAY1.replace(second=1), account=account),
        ],
    )
    import_all(engine, settings, f)
    done = run_cli("round-trips", "--csv", "--database", settings.database_url)
    assert done.returncode == 0, done.stderr
    assert live_parts(done.stdout) == []
    # After the stable id, the first column.
    assert done.stdout.splitlines()[1].split(",", 1)[1].startswith("acct;'=2+3;x,MNQ MAR25,long,")
    assert ",-1,-2,0,-2,USD," in done.stdout.splitlines()[1]


@pytest.mark.skipif(
    shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed here"
)
def test_libreoffice_evaluates_nothing_with_semicolon_separator(tmp_path: Path) -> None:
    """LibreOffice headless reads the CSV with ';' as separator and formulas evaluated:
    no cell comes out as the result of a formula (5, a link)."""
    source = tmp_path / "trips.csv"
    source.write_text(csv_text(["name"], [[t] for t in HOSTILE]), encoding="utf-8")
    # Filter options: separator 59 (;), text delimiter 34 ("), UTF-8, from line 1, ...,
    # the 12th token "evaluate formulas" on.
    options = "59,34,76,1,,0,false,true,false,false,false,true"
    subprocess.run(
        [
            "soffice",
            "--headless",
            f"--infilter=CSV:{options}",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76,1",
            "--outdir",
            str(tmp_path / "out"),
            str(source),
        ],
        check=True,
        timeout=120,
        capture_output=True,
    )
    cells = [c for line in csv.reader((tmp_path / "out" / "trips.csv").open()) for c in line]
    assert "5" not in cells
    assert "2" not in cells  # @SUM(1+1), =1+1
    assert not any(c.startswith("click") for c in cells)


def test_round_trips_stream_in_order_across_chunks(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """1,203 round trips of two accounts opened at the same moments (more than two chunks
    of 500): ``--json`` and ``--csv`` list every one once, in the table's order (opening
    time, then account byte-wise: "APEX" before "Sim101"), and the JSON is one array."""
    from datetime import timedelta  # noqa: PLC0415

    from support.trips import cli, cli_json  # noqa: PLC0415

    lines = []
    for n in range(602):
        when = DAY1 + timedelta(seconds=10 * n)
        for account in ("Sim101", "APEX"):
            if n == 601 and account == "APEX":
                continue
            lines.append(row(f"{account}-{n}-in", "Buy", 1, "100", when, account=account))
            lines.append(
                row(
                    f"{account}-{n}-out",
                    "Sell",
                    1,
                    "101",
                    when + timedelta(seconds=5),
                    account=account,
                )
            )
    import_all(engine, settings, write(tmp_path / "many.csv", lines))
    db = ("--database", settings.database_url)
    trips = cli_json("round-trips", *db)
    expected = [
        (f"{a}-{n}-in", a)
        for n in range(602)
        for a in ("APEX", "Sim101")
        if (n, a) != (601, "APEX")
    ]
    assert [(t["executions"][0]["execution_id"], t["account"]) for t in trips] == expected
    done = cli("round-trips", "--csv", *db)
    cells = list(csv.reader(io.StringIO(done.stdout)))
    assert len(cells) == 1 + len(expected)
    assert [c[cells[0].index("account")] for c in cells[1:]] == [a for _, a in expected]


def test_each_fill_shows_its_trade_even_where_trades_were_edited_by_hand(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """The listing reads a chunk's trades by account, contract and time; a trade moved out
    of its round trip's time, to another contract, or deleted by hand (no rebuild since)
    still shows in the listing exactly as the trade is now (null once deleted), as a
    lookup by execution id gives it."""
    from datetime import timedelta  # noqa: PLC0415

    from sqlalchemy import select, update  # noqa: PLC0415

    from csv_import_daemon.config.trading_day import parse_rollover  # noqa: PLC0415
    from csv_import_daemon.db.tables import ROUND_TRIP_FILLS, TRADES  # noqa: PLC0415
    from csv_import_daemon.trips.queries import (  # noqa: PLC0415
        TripFilter,
        iter_round_trips,
        load_round_trips,
    )

    lines = []
    for n in range(6):
        when = DAY1 + timedelta(minutes=10 * n)
        for account in ("Sim101", "APEX"):
            for suffix, action, qty, price, after in (
                ("a", "Buy", 2, "100", 0),
                ("b", "Sell", 1, "101", 5),
                ("c", "Sell", 1, "102", 9),
            ):
                at = when + timedelta(seconds=after)
                lines.append(
                    row(f"{account}-{n}-{suffix}", action, qty, price, at, account=account)
                )
    import_all(engine, settings, write(tmp_path / "fills.csv", lines))
    t = TRADES.c
    with engine.begin() as conn:
        conn.execute(
            update(TRADES)
            .where(t.execution_id == "Sim101-1-b")
            .values(executed_at=DAY1 + timedelta(days=400), price=Decimal("99.5"))
        )
        conn.execute(update(TRADES).where(t.execution_id == "APEX-2-c").values(contract="ES 03-25"))
        conn.execute(TRADES.delete().where(t.execution_id == "APEX-4-a"))
    f = ROUND_TRIP_FILLS.c
    with engine.connect() as conn:
        rollover = parse_rollover(settings.trading_day_rollover)
        trips = load_round_trips(conn, TripFilter(), rollover)
        brief = list(iter_round_trips(conn, TripFilter(), rollover, prices=False))
        looked_up = {
            r[0]: tuple(r[1:])
            for r in conn.execute(
                select(
                    f.execution_id,
                    t.price,
                    t.executed_at,
                    t.commission_currency,
                    t.commission_source,
                ).select_from(ROUND_TRIP_FILLS.outerjoin(TRADES, t.execution_id == f.execution_id))
            )
        }
    shown = {
        e["execution_id"]: (
            e["price"],
            e["executed_at"],
            e["commission_currency"],
            e["commission_source"],
        )
        for trip in trips
        for e in trip["executions"]
    }
    assert len(trips) == 12
    assert shown == looked_up
    assert shown["Sim101-1-b"][:2] == (Decimal("99.5"), DAY1 + timedelta(days=400))
    assert shown["APEX-4-a"] == (None, None, None, None)
    assert shown["APEX-2-c"][0] == Decimal("102")
    # Without prices (the table, CSV): the same round trips and parts, no price or time.
    unpriced = ("price", "executed_at")
    assert brief == [
        {
            **trip,
            "executions": [
                {k: v for k, v in e.items() if k not in unpriced} for e in trip["executions"]
            ],
        }
        for trip in trips
    ]
