"""``report``: the journal page's numbers equal ``pnl`` and ``round-trips``; file text is
escaped; nothing is loaded from elsewhere; no path the user did not choose is shown."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from support.journal_page import (
    HOSTILE_ACCOUNT,
    HOSTILE_INSTRUMENT,
    Page,
    journal_files,
    read_page,
)
from support.paths import SAMPLES
from support.processes import run_cli

ZONE = ("--source-timezone", "America/New_York")


def cli(*args: str, home: Path) -> str:
    done = run_cli(*args, env={"XDG_STATE_HOME": str(home / "state"), "HOME": str(home)})
    assert done.returncode == 0, done.stderr
    return done.stdout


def make_journal(tmp_path: Path, database_url: str) -> tuple[str, Page]:
    files = journal_files(tmp_path)
    db = ("--database", database_url)
    cli("import", *db, *ZONE, *map(str, files), home=tmp_path)
    out = tmp_path / "page.html"
    assert cli("report", *db, *ZONE, "--out", str(out), home=tmp_path).strip() == str(out)
    html = out.read_text(encoding="utf-8")
    return html, read_page(html)


def test_the_page_equals_pnl_and_round_trips(tmp_path: Path, database_url: str) -> None:
    """The calendar's days and months equal ``pnl --by day`` (each exit on its fill's
    trading day); the summary's totals equal the closed round trips of ``round-trips
    --json``; every table row equals ``round-trips --json`` (same order, same exact
    decimals, the fills' quantities)."""
    _html, page = make_journal(tmp_path, database_url)
    db = ("--database", database_url)
    trips = json.loads(cli("round-trips", *db, "--json", home=tmp_path))
    pnl = json.loads(cli("pnl", *db, "--by", "day", "--json", home=tmp_path))

    days: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for g in pnl:
        if g["currency"] is not None:
            days[g["currency"]][g["day"]] = Decimal(g["net_pnl"])
    totals: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for t in trips:
        if t["currency"] is None or t["closed_at"] is None:
            continue
        paid_in = t["commission_currency"]
        if paid_in == t["currency"]:
            for k in ("pnl", "commission", "net_pnl"):
                totals[t["currency"]][k] += Decimal(t[k])
        else:  # FDAX's '$' commissions: counted in USD, never netted with its EUR P&L
            assert t["net_pnl"] is None
            totals[t["currency"]]["pnl"] += Decimal(t["pnl"])
            totals[t["currency"]]["net_pnl"] += Decimal(t["pnl"])
            totals[paid_in]["commission"] += Decimal(t["commission"])
            totals[paid_in]["net_pnl"] -= Decimal(t["commission"])
            totals[paid_in]["round_trips"] += 1
        totals[t["currency"]]["round_trips"] += 1
    assert set(page.figures) == {"USD", "EUR"} == set(days)
    for currency, expected in days.items():
        assert page.days[currency] == expected
        assert sum(page.months[currency].values()) == sum(expected.values())
        shown = page.figures[currency]
        for k in ("pnl", "commission", "net_pnl", "round_trips"):
            assert Decimal(shown[k]) == totals[currency][k], (currency, k)

    table = page.rows()
    names = table["names"]
    assert len(table["rows"]) == len(trips)
    for r, t in zip(table["rows"], trips, strict=True):
        assert names[r[3]] == t["account"]
        assert names[r[4]] == t["instrument"]
        assert r[5:8] == [t["direction"], t["quantity"], t["open_quantity"]]
        money = ("entry_price", "exit_price", "points", "pnl", "commission", "net_pnl")
        assert r[8:14] == [t[k] for k in money]
        assert r[14] == t["currency"]
        assert [f[2] for f in r[15]] == [e["quantity"] for e in t["executions"]]
    assert page.health["open_trips"] == str(sum(t["closed_at"] is None for t in trips))
    assert page.health["trades"] == "81"


def test_the_sample_folder_page_equals_pnl_and_round_trips(tmp_path: Path) -> None:
    """The shipped samples (one refused file among them): the page's days, totals and rows
    are ``pnl``'s and ``round-trips``'."""
    db = ("--database", f"sqlite:///{tmp_path / 'j.sqlite3'}")
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    done = run_cli("import", *db, *ZONE, str(SAMPLES), env=env)
    assert done.returncode in (0, 1), done.stderr  # 1: the trades grid is refused
    out = tmp_path / "samples.html"
    cli("report", *db, *ZONE, "--out", str(out), home=tmp_path)
    page = read_page(out.read_text(encoding="utf-8"))
    pnl = json.loads(cli("pnl", *db, "--by", "day", "--json", home=tmp_path))
    trips = json.loads(cli("round-trips", *db, "--json", home=tmp_path))
    assert page.days == {"USD": {g["day"]: Decimal(g["net_pnl"]) for g in pnl}}
    closed = [t for t in trips if t["closed_at"] is not None]
    net = sum(Decimal(t["net_pnl"]) for t in closed)
    assert Decimal(page.figures["USD"]["net_pnl"]) == net
    rows = page.rows()["rows"]
    assert [r[11:14] for r in rows] == [[t["pnl"], t["commission"], t["net_pnl"]] for t in trips]
    assert page.health["problem_files"] == "1"


def test_values_from_files_are_escaped_and_nothing_is_loaded(tmp_path: Path) -> None:
    """An account named like a script and a ``javascript:`` instrument stay text; the only
    scripts are the page's own (allowed by hash) and its data; no URL leaves the page."""
    html, page = make_journal(tmp_path, f"sqlite:///{tmp_path / 'j.sqlite3'}")
    assert HOSTILE_ACCOUNT not in html  # escaped wherever it is shown in markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the breakdown by account
    assert [s.get("type") for s in page.scripts] == ["application/octet-stream", None]
    assert not page.scripts[1].get("src")
    rows = page.rows()
    assert HOSTILE_ACCOUNT in rows["names"]
    assert HOSTILE_INSTRUMENT in rows["names"]
    assert all(u.startswith("#") for u in page.urls), page.urls
    assert page.csp is not None
    assert "default-src 'none'" in page.csp
    assert "unsafe-inline" not in page.csp
    assert "http" not in page.csp
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+';", page.csp)
    assert str(tmp_path) not in html  # neither the journal's nor the files' folder
    assert page.refresh is None  # only the daemon's page reloads itself


def test_report_needs_an_existing_journal_and_an_existing_out_folder(tmp_path: Path) -> None:
    """No journal: exit 3, nothing created; a missing ``--out`` folder: exit 2."""
    missing = tmp_path / "none.sqlite3"
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    done = run_cli("report", "--database", f"sqlite:///{missing}", env=env)
    assert done.returncode == 3
    assert not missing.exists()
    journal_files(tmp_path)
    db = f"sqlite:///{tmp_path / 'j.sqlite3'}"
    assert (
        run_cli(
            "import",
            "--database",
            db,
            str(tmp_path / "NinjaTrader_Executions_20250128.csv"),
            env=env,
        ).returncode
        == 0
    )
    done = run_cli("report", "--database", db, "--out", str(tmp_path / "no" / "p.html"), env=env)
    assert done.returncode == 2
    assert "does not exist" in done.stderr


def test_report_writes_to_the_state_folder_by_default(tmp_path: Path) -> None:
    """Without ``--out`` or ``report_path`` the page lands in the state folder, private."""
    files = journal_files(tmp_path)
    db = f"sqlite:///{tmp_path / 'j.sqlite3'}"
    cli("import", "--database", db, *map(str, files), home=tmp_path)
    printed = Path(cli("report", "--database", db, home=tmp_path).strip())
    assert printed == tmp_path / "state" / "csv-import-daemon" / "journal.html"
    assert printed.stat().st_mode & 0o077 == 0
    assert "<svg" in printed.read_text(encoding="utf-8")


@pytest.mark.parametrize("flag", ["--account", "--root"])
def test_report_filters_by_account_and_root(tmp_path: Path, flag: str) -> None:
    """``--account`` and ``--root`` narrow every figure; the selection is shown, escaped."""
    files = journal_files(tmp_path)
    db = f"sqlite:///{tmp_path / 'j.sqlite3'}"
    cli("import", "--database", db, *ZONE, *map(str, files), home=tmp_path)
    value = HOSTILE_ACCOUNT if flag == "--account" else "fdax"
    out = tmp_path / "p.html"
    cli("report", "--database", db, *ZONE, flag, value, "--out", str(out), home=tmp_path)
    html = out.read_text(encoding="utf-8")
    page = read_page(html)
    rows = page.rows()
    kept: Any = {rows["names"][r[3 if flag == "--account" else 4]] for r in rows["rows"]}
    assert kept == ({HOSTILE_ACCOUNT} if flag == "--account" else {"FDAX MAR25"})
    # FDAX's '$' commissions are dollars: shown in USD beside its EUR P&L, never netted.
    assert set(page.figures) == ({"USD"} if flag == "--account" else {"EUR", "USD"})
    assert HOSTILE_ACCOUNT not in html


def test_the_table_holds_the_latest_round_trips_and_the_figures_count_all(
    tmp_path: Path, database_url: str
) -> None:
    """With the table limited to 3 round trips: the table lists the last 3 by opening time
    (as ``round-trips --json`` ends), says how many it leaves out, and every figure is the
    same as on the page without a limit."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from csv_import_daemon.config.settings import load_settings  # noqa: PLC0415
    from csv_import_daemon.db.engine import make_engine  # noqa: PLC0415
    from csv_import_daemon.reports.journal_data import PageFilter, load_journal  # noqa: PLC0415
    from csv_import_daemon.reports.page import PageOptions, render_page  # noqa: PLC0415

    _html, unlimited = make_journal(tmp_path, database_url)
    db = ("--database", database_url)
    trips = json.loads(cli("round-trips", *db, "--json", home=tmp_path))
    settings = load_settings(
        {"database_url": database_url, "source_timezone": "America/New_York"}, environ={}
    )
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            data = load_journal(
                conn, PageFilter(), settings.rollover, zone=settings.tz, table_limit=3
            )
    finally:
        engine.dispose()
    options = PageOptions(rollover=settings.rollover, zone=settings.tz, now=datetime.now(UTC))
    html = render_page(data, options)
    page = read_page(html)
    table = page.rows()
    assert [table["names"][r[3]] for r in table["rows"]] == [t["account"] for t in trips[-3:]]
    assert [r[7] for r in table["rows"]] == [t["open_quantity"] for t in trips[-3:]]
    assert f"The table lists the latest 3 of {len(trips)} round trips" in html
    assert page.figures == unlimited.figures
    assert page.days == unlimited.days
