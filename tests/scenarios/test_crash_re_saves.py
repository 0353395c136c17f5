"""Crash harness for the newer paths: exports without IDs and their re-saves, and a repair.

1. The real daemon reads a seeded export without an ID column (fills of one meaning in one
   minute included), a spreadsheet's re-save of it as a copy (24-hour times without seconds,
   trailing zeros, Account moved, Position hidden), that re-save saved over the original,
   and a longer export (the same fills and later ones), while it is SIGKILLed at random
   moments. At the end each fill is stored exactly once, under the stand-in today's parser
   gives it, with no rejection, every checkpoint at its file's end.
2. ``import --reread --replace`` (another zone) is SIGKILLed after its first commit; the
   daemon, the next reader, finishes it as a replace: every trade at its right time.
3. After ``db prune-ledger``, a trade deleted by hand: its file copied in again is refused
   (``before_retention_horizon``), never stored again; ``verify`` passes.

The seed is printed on failure and settable with ``CSV_IMPORT_TEST_SEED``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from csv_import_daemon.config.point_values import PointValues
from csv_import_daemon.parsing.execution import Execution
from csv_import_daemon.parsing.row_parser import RowParser, sniff_layout, split_lines
from csv_import_daemon.trips.refresh import rebuild_round_trips
from support.daemon import DaemonProcess
from support.journal import Journal
from support.processes import CLI, clean_env, run_cli
from support.rows import HEADER, clock
from support.waiting import wait_for

pytestmark = pytest.mark.daemon

KILLS = 8
ROWS = 40_000  # the repair: 400 commits of 100 rows, killed after its first
BASE = datetime(2025, 10, 30, 9, 30, 0)  # New York wall clock
ZONE = "America/New_York"
NO_ID_HEADER = "Account,Instrument,Action,Quantity,Price,Time,E/X,Position,Name,Commission"
RE_SAVED_HEADER = "Instrument,Action,Quantity,Price,Time,E/X,Name,Commission,Account"


def fills(rng: random.Random, count: int, start: datetime) -> list[tuple[str, ...]]:
    """(account, instrument, action, quantity, price, time) of ``count`` fills; about one
    in ten repeats the previous fill within its minute (a genuine identical fill)."""
    out: list[tuple[str, ...]] = []
    when = start
    for _ in range(count):
        if out and rng.random() < 0.1 and when.second < 58:
            account, instrument, action, quantity, price, _ = out[-1]
            when += timedelta(seconds=1)
        else:
            when += timedelta(seconds=rng.randint(20, 200))
            account = rng.choice(("Sim101", "APEX-3"))
            instrument = rng.choice(("MNQ 12-25", "MES 12-25"))
            action = rng.choice(("Buy", "Sell"))
            quantity = str(rng.randint(1, 4))
            price = f"{21000 + rng.randrange(4000) / 4:g}"
        out.append((account, instrument, action, quantity, price, when.isoformat()))
    return out


def original(rows: list[tuple[str, ...]]) -> str:
    lines = [
        f"{a},{i},{act},{q},{p},{clock(datetime.fromisoformat(t))},Entry,1 L,Entry,$0.52"
        for a, i, act, q, p, t in rows
    ]
    return "\n".join([NO_ID_HEADER, *lines]) + "\n"


def re_saved(rows: list[tuple[str, ...]]) -> str:
    def minute(t: str) -> str:
        d = datetime.fromisoformat(t)
        return f"{d.month}/{d.day}/{d.year} {d.hour}:{d.minute:02}"

    lines = [
        f"{i},{act},{q},{float(p):.2f},{minute(t)},Entry,Entry,0.52,{a}"
        for a, i, act, q, p, t in rows
    ]
    return "\r\n".join([RE_SAVED_HEADER, *lines]) + "\r\n"


def expected_ids(text: str) -> set[str]:
    """The stand-ins today's parser gives the original export's rows."""
    header, *lines = text.splitlines()
    layout = sniff_layout(header)
    parser = RowParser(layout, "mdy", ZoneInfo(ZONE))
    rows = zip(split_lines(lines, layout), lines, strict=True)
    parsed = [parser.parse(f, n, raw) for n, (f, raw) in enumerate(rows, start=2)]
    assert all(isinstance(p, Execution) for p in parsed)
    return {p.execution_id for p in parsed if isinstance(p, Execution)}


def drop(folder: Path, name: str, text: str) -> None:
    """Saved as a spreadsheet saves: a temporary file renamed over the name."""
    tmp = folder / f".{name}.part"
    tmp.write_text(text, encoding="utf-8", newline="")
    os.rename(tmp, folder / name)


@pytest.fixture
def seed() -> int:
    value = int(os.environ.get("CSV_IMPORT_TEST_SEED") or random.SystemRandom().randrange(2**32))
    print(f"crash harness seed: CSV_IMPORT_TEST_SEED={value}")
    return value


def kill_soon(daemon: DaemonProcess, rng: random.Random) -> None:
    """SIGKILL during start-up, or after READY while it reads."""
    if rng.random() < 0.3:
        threading.Event().wait(rng.uniform(0, 1.5))
    else:
        daemon.wait_ready(timeout=60)
        threading.Event().wait(rng.uniform(0, 0.6))
    daemon.send(signal.SIGKILL)
    assert daemon.wait_exit(30) == -signal.SIGKILL, daemon.log_text()[-3000:]


@pytest.mark.timeout(600)
def test_sigkill_while_re_saved_exports_without_ids_are_read(
    tmp_path: Path, database_url: str, seed: int
) -> None:
    """Each fill once, under its stand-in, however the re-saves and kills interleave."""
    rng = random.Random(seed)
    first = fills(rng, 2500, BASE)
    later = fills(rng, 500, datetime.fromisoformat(first[-1][5]))
    text = original(first)
    longer = original(first + later)
    want = expected_ids(longer)
    assert expected_ids(text) <= want
    watch = tmp_path / "watch"
    watch.mkdir()
    steps = [
        ("grid.csv", text),
        ("grid (excel).csv", re_saved(first)),
        ("grid.csv", re_saved(first)),  # the re-save saved over the original
        ("grid longer.csv", longer),
    ]
    journal = Journal(database_url)
    try:
        for cycle in range(KILLS):
            env = {"CSV_IMPORT_BATCH_SIZE": str(rng.choice((50, 400, 5000)))}
            with DaemonProcess(watch, database_url, log_dir=tmp_path, env=env) as daemon:
                if steps and (cycle % 2 == 0 or rng.random() < 0.5):
                    drop(watch, *steps.pop(0))
                kill_soon(daemon, rng)
        for step in steps:
            drop(watch, *step)
        with DaemonProcess(watch, database_url, log_dir=tmp_path) as daemon:
            daemon.wait_ready(timeout=60)
            wait_for(journal.ledger, lambda n: n >= len(want), timeout=180, what="every fill")
            sizes = {str(p): p.stat().st_size for p in watch.glob("*.csv")}
            wait_for(
                lambda: {
                    r["path"]: r["offset"]
                    for r in journal.rows('SELECT path, "offset" FROM import_files')
                },
                sizes,
                timeout=180,
                what="every checkpoint at its file's end",
            )
            assert daemon.stop(30) == 0, daemon.log_text()[-3000:]
        assert journal.ids() == want
        assert journal.trades() == len(want)
        rejected = journal.rows(
            "SELECT source_file, reason, count(*) AS n FROM import_rejections"
            " GROUP BY source_file, reason"
        )
        assert rejected == []
        statuses = {r["status"] for r in journal.rows("SELECT status FROM import_files")}
        assert statuses == {"ok"}
    except BaseException as exc:
        raise AssertionError(f"failed with CSV_IMPORT_TEST_SEED={seed}: {exc}") from exc
    finally:
        journal.close()


def _cli(database_url: str, *args: str, zone: str = ZONE) -> subprocess.CompletedProcess[str]:
    return run_cli(
        *args, "--database", database_url, "--source-timezone", zone, "--instance-name", "h"
    )


def _export(rows: int) -> str:
    lines = []
    for n in range(rows):
        when = BASE + timedelta(seconds=4 * n)
        lines.append(
            f"MNQ 12-25,{'Buy' if n % 2 else 'Sell'},1,21000.25,{clock(when)},"
            f"id{n:06d},Entry,-,,Entry,$0.52,1,Sim101,Sim,"
        )
    return "\n".join([HEADER, *lines]) + "\n"


@pytest.mark.timeout(600)
def test_a_killed_repair_is_finished_by_the_daemon_and_pruned_fills_stay_deleted(
    tmp_path: Path, database_url: str
) -> None:
    """``import --reread --replace`` killed after its first commit leaves the file
    ``repair_pending``; the daemon finishes it as a replace. Then after a ledger prune a
    trade deleted by hand is refused when its file comes in again, and verify passes."""
    watch = tmp_path / "watch"
    watch.mkdir()
    path = watch / "grid.csv"
    path.write_text(_export(ROWS), encoding="utf-8")
    done = _cli(database_url, "import", str(path), zone="Europe/London")
    assert done.returncode == 0, done.stderr
    journal = Journal(database_url)
    try:
        command = [*CLI, "import", "--reread", "--replace", str(path), "--database"]
        repair = subprocess.Popen(
            [*command, database_url, "--source-timezone", ZONE, "--instance-name", "h"],
            env=clean_env({"CSV_IMPORT_BATCH_SIZE": "100"}),  # hundreds of commits
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(
                lambda: (
                    journal.scalar("SELECT count(*) FROM trade_corrections") > 0
                    or repair.poll() is not None
                ),
                True,
                timeout=120,
                what="the repair's first commit",
            )
            repair.send_signal(signal.SIGKILL)
        finally:
            repair.wait(30)
        assert repair.returncode == -signal.SIGKILL, "the repair ended before its kill"
        assert journal.scalar("SELECT status FROM import_files") == "repair_pending"
        # The journal recorded London at the first import: New York is made its zone.
        assert _cli(database_url, "db", "settings").returncode == 0
        zone = ("--source-timezone", ZONE, "--instance-name", "h")
        with DaemonProcess(watch, database_url, *zone, log_dir=tmp_path) as daemon:
            daemon.wait_ready(timeout=60)
            wait_for(
                lambda: journal.scalar("SELECT status FROM import_files"),
                "ok",
                timeout=180,
                what="the repair finished",
            )
            assert daemon.stop(30) == 0, daemon.log_text()[-3000:]
        assert journal.scalar("SELECT count(*) FROM trades") == ROWS
        # 9:30 New York is 13:30 UTC (read in London it was 8:30): every time replaced once
        first = journal.scalar("SELECT min(executed_at) FROM trades")
        assert str(first).startswith("2025-10-30 13:30:00")
        corrected = journal.scalar(
            "SELECT count(DISTINCT execution_id) FROM trade_corrections WHERE field = 'executed_at'"
        )
        assert corrected == ROWS

        prune = _cli(database_url, "db", "prune-ledger", "--before", "2025-11-01")
        assert prune.returncode == 0, prune.stderr
        with journal.engine.begin() as conn:  # a trade deleted by hand after the prune
            conn.exec_driver_sql("DELETE FROM trades WHERE execution_id = 'id000042'")
        copy = tmp_path / "copy.csv"
        copy.write_text(_export(ROWS), encoding="utf-8")
        again = _cli(database_url, "import", str(copy))
        assert again.returncode == 0, again.stderr
        assert journal.scalar("SELECT count(*) FROM trades") == ROWS - 1
        refused = journal.rows(
            "SELECT reason FROM import_rejections WHERE source_file LIKE '%copy.csv'"
        )
        assert [r["reason"] for r in refused] == ["before_retention_horizon"]
        # The hand delete left its round trip stale (verify says so) until a rebuild.
        stale = _cli(database_url, "verify", str(copy), str(path))
        assert stale.returncode == 1
        assert "round-trips --rebuild" in stale.stdout + stale.stderr
        with journal.engine.begin() as conn:  # what `round-trips --rebuild` does
            rebuild_round_trips(conn, PointValues())
        verify = _cli(database_url, "verify", str(copy), str(path))
        assert verify.returncode == 0, verify.stdout + verify.stderr
    finally:
        journal.close()
