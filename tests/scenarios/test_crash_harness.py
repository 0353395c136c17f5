"""Crash harness: the real daemon, killed with SIGKILL at random moments under load.

A seeded corpus (bulk exports dropped one after another, two add-on daily files growing
line by line with half lines, overlapping rows, a few bad rows) is written while the
daemon is started and killed over and over. At the end one more daemon runs until it is
quiet, and the database must hold exactly the unique set: every execution once, every bad
row rejected once, every line where it really is, every checkpoint at the end of its file.

The corpus and the kill plan follow from one seed, printed on failure and settable with
``CSV_IMPORT_TEST_SEED``; the interleaving with the daemon's own timing is what varies.
``--release`` kills 200 times instead of 30.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from support.daemon import DaemonProcess
from support.journal import Journal
from support.rows import HEADER, clock
from support.trip_reference import normalized, reference_round_trips, stored_round_trips, trades_of
from support.waiting import wait_for

# Every test here starts the daemon subprocess or a real observer.
pytestmark = pytest.mark.daemon

RELEASE = "--release" in sys.argv  # the pytest timeout below is fixed at collection
CI_KILLS = 30
RELEASE_KILLS = 200
BASE_TIME = datetime(2025, 10, 30, 8, 0, 0)
QUIET_TIMEOUT = 180.0  # the final daemon must have caught up by then


@dataclass
class Corpus:
    """Everything the files will hold, decided up front from the seed."""

    rng: random.Random
    serial: int = 0
    expected: set[str] = field(default_factory=set)
    good: list[str] = field(default_factory=list)  # lines an overlapping export may repeat
    bad: dict[str, list[int]] = field(default_factory=dict)  # file name -> bad line numbers

    def row(self) -> tuple[str, str]:
        """A fresh good row: (execution ID, line without newline)."""
        self.serial += 1
        eid = f"{self.rng.getrandbits(128):032x}"
        when = BASE_TIME + timedelta(seconds=self.serial)
        action = self.rng.choice(("Buy", "Sell"))
        price = 21000 + self.rng.randrange(4000) / 4
        account = self.rng.choice(("SIM101", "Sim102", "APEX-3"))
        line = (
            f"MNQ 12-25,{action},{self.rng.randint(1, 9)},{price:.2f},{clock(when)},"
            f"{eid},Entry,1 L,{self.rng.getrandbits(64):016x},Entry,$0.52,1,{account},"
            "Simulated Data Feed,"
        )
        return eid, line

    def bad_row(self) -> str:
        """A row rejected for its price; its text is unique, so its rejection is too."""
        _, line = self.row()
        fields = line.split(",")
        fields[3] = f"price-{self.serial}"
        return ",".join(fields)

    def lines(self, name: str, count: int, first_line: int, bad_share: float) -> list[str]:
        """``count`` data lines for file ``name`` starting at line number ``first_line``."""
        out: list[str] = []
        for i in range(count):
            roll = self.rng.random()
            if roll < bad_share:
                out.append(self.bad_row())
                self.bad.setdefault(name, []).append(first_line + i)
            elif self.good and roll < 0.08:  # an overlapping export repeats earlier rows
                out.append(self.rng.choice(self.good))
            else:
                eid, line = self.row()
                self.expected.add(eid)
                self.good.append(line)
                out.append(line)
        return out


@dataclass
class Plan:
    """Bulk files to drop (name, lines) and the daily files' lines, in writing order."""

    bulk: list[tuple[str, list[str]]]
    daily: list[tuple[str, list[str]]]


def make_plan(rng: random.Random, corpus: Corpus, release: bool) -> Plan:
    scale = 2 if release else 1
    bulk: list[tuple[str, list[str]]] = []
    for n in range(8):
        name = f"export-{n:02d} grid.csv" if n % 3 else f"NinjaTrader_Executions_202510{20 + n}.csv"
        count = rng.randint(1500, 4500) * scale
        bulk.append((name, corpus.lines(name, count, 2, bad_share=0.0005)))
    daily = []
    for day in ("20251101", "20251102"):
        name = f"NinjaTrader_Executions_{day}.csv"
        daily.append((name, corpus.lines(name, 3000 * scale, 2, bad_share=0.001)))
    return Plan(bulk, daily)


class DailyWriter(threading.Thread):
    """The exporter add-on: appends one line at a time (sometimes in two writes) to the
    daily files, flushing each write, the file kept open the whole time."""

    def __init__(
        self, folder: Path, daily: list[tuple[str, list[str]]], seed: int, pace: float
    ) -> None:
        super().__init__(name="daily-writer", daemon=True)
        self.folder = folder
        self.daily = daily
        self.rng = random.Random(seed)
        self.pace = pace  # seconds per burst while not hurried
        self.hurry = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for name, lines in self.daily:
                self._write(self.folder / name, lines)
        except BaseException as exc:  # reported by the test thread
            self.error = exc

    def _write(self, path: Path, lines: list[str]) -> None:
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(HEADER + "\n")
            f.flush()
            i = 0
            while i < len(lines):
                burst = lines[i : i + self.rng.randint(1, 40)]
                i += len(burst)
                for line in burst:
                    if self.rng.random() < 0.05:
                        # Half a line, cut before its last field: never a complete row
                        # on its own, however long it stays unfinished.
                        cut = self.rng.randint(1, line.rindex(","))
                        f.write(line[:cut])
                        f.flush()
                        self.hurry.wait(self.rng.uniform(0, 0.3))
                        f.write(line[cut:] + "\n")
                    else:
                        f.write(line + "\n")
                    f.flush()
                self.hurry.wait(self.rng.uniform(0, 2 * self.pace))


def drop(folder: Path, name: str, lines: list[str], rng: random.Random) -> None:
    """Put an export into the folder: written in place, or renamed in from a temp name."""
    text = HEADER + "\n" + "".join(line + "\n" for line in lines)
    if rng.random() < 0.5:
        tmp = folder / f".{name}.part"
        tmp.write_text(text, encoding="utf-8")
        os.rename(tmp, folder / name)
    else:
        (folder / name).write_text(text, encoding="utf-8")


def kill_at_random_moment(
    daemon: DaemonProcess, journal: Journal, rng: random.Random, stop: threading.Event
) -> str:
    """SIGKILL during start-up, after READY, or just after a batch committed; the mode."""
    mode = rng.choice(("start-up", "ready", "mid-import", "mid-import"))
    if mode == "start-up":
        stop.wait(rng.uniform(0, 2.0))
    else:
        daemon.wait_ready(timeout=60)
        if mode == "ready":
            stop.wait(rng.uniform(0, 1.0))
        else:
            before = journal.ledger()
            deadline = time.monotonic() + 3.0
            while journal.ledger() == before and time.monotonic() < deadline:
                stop.wait(0.01)
            stop.wait(rng.uniform(0, 0.05))
    daemon.send(signal.SIGKILL)
    assert daemon.wait_exit(30) == -signal.SIGKILL, daemon.log_text()[-3000:]
    return mode


@pytest.fixture
def seed() -> int:
    """The run's seed: CSV_IMPORT_TEST_SEED or a fresh one, printed on failure."""
    value = int(os.environ.get("CSV_IMPORT_TEST_SEED") or random.SystemRandom().randrange(2**32))
    print(f"crash harness seed: CSV_IMPORT_TEST_SEED={value}")
    return value


@pytest.mark.timeout(7200 if RELEASE else 600)
def test_sigkill_at_random_moments_keeps_exactly_the_unique_set(
    tmp_path: Path, database_url: str, seed: int, release: bool
) -> None:
    """30 random SIGKILLs (200 with --release) under load: exactly the unique set, once."""
    try:
        _run_harness(tmp_path, database_url, seed, RELEASE_KILLS if release else CI_KILLS, release)
    except BaseException as exc:
        raise AssertionError(
            f"crash harness failed with CSV_IMPORT_TEST_SEED={seed}: {exc}"
        ) from exc


def _run_harness(tmp_path: Path, url: str, seed: int, kills: int, release: bool) -> None:
    rng = random.Random(seed)
    corpus = Corpus(random.Random(seed ^ 0x5EED))
    plan = make_plan(rng, corpus, release)
    watch = tmp_path / "watch"
    watch.mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    journal = Journal(url)
    stop = threading.Event()  # never set: its wait() paces the kill moments
    # The daily files grow for about as long as the kills last (about 2.5 s per cycle).
    writer = DailyWriter(
        watch, plan.daily, seed + 1, pace=2.5 * kills / (sum(len(x) for _, x in plan.daily) / 20)
    )
    pending_bulk = list(plan.bulk)
    modes: dict[str, int] = {}
    try:
        writer.start()
        for cycle in range(kills):
            batch = str(rng.choice((50, 200, 1000, 5000)))
            daemon = DaemonProcess(
                watch, url, settle=0.3, log_dir=logs, env={"CSV_IMPORT_BATCH_SIZE": batch}
            )
            if pending_bulk and rng.random() < 0.3:
                drop(watch, *pending_bulk.pop(0), rng)  # backlog found by the start-up scan
            with daemon:  # started here
                if pending_bulk and rng.random() < 0.5:
                    drop(watch, *pending_bulk.pop(0), rng)
                mode = kill_at_random_moment(daemon, journal, rng, stop)
                modes[mode] = modes.get(mode, 0) + 1
            assert writer.error is None, f"writer failed: {writer.error!r}"
            if cycle == kills // 2:
                assert journal.ledger() > 0, "no progress at all between kills"
        for name, lines in pending_bulk:
            drop(watch, name, lines, rng)
        writer.hurry.set()
        writer.join(60)
        assert not writer.is_alive(), "the writer did not finish"
        assert writer.error is None, writer.error
        with DaemonProcess(watch, url, settle=0.3, log_dir=logs) as daemon:
            daemon.wait_ready(timeout=60)
            _wait_until_quiet(journal, watch, len(corpus.expected))
            _check_database(journal, watch, corpus, plan)
            assert daemon.stop(30) == 0, daemon.log_text()[-3000:]
        print(f"kills by moment: {modes}")
    finally:
        writer.hurry.set()
        journal.close()


def _wait_until_quiet(journal: Journal, watch: Path, expected_rows: int) -> None:
    def state() -> tuple[int, bool]:
        sizes = {str(p): p.stat().st_size for p in watch.iterdir() if p.suffix == ".csv"}
        offsets = {
            r["path"]: r["offset"] for r in journal.rows('SELECT path, "offset" FROM import_files')
        }
        return journal.ledger(), offsets == sizes

    wait_for(
        state,
        (expected_rows, True),
        timeout=QUIET_TIMEOUT,
        what="ledger rows and checkpoints at every file's end",
    )


def _check_database(journal: Journal, watch: Path, corpus: Corpus, plan: Plan) -> None:
    ledger = [
        r["execution_id"] for r in journal.rows("SELECT execution_id FROM imported_executions")
    ]
    trades = journal.rows("SELECT execution_id, source_file, source_line FROM trades")
    assert len(ledger) == len(set(ledger)), "an execution ID twice in the ledger"
    assert len(trades) == len({t["execution_id"] for t in trades}), "a trade stored twice"
    missing = corpus.expected - set(ledger)
    extra = set(ledger) - corpus.expected
    assert (missing, extra) == (set(), set()), (
        f"{len(missing)} missing, e.g. {sorted(missing)[:3]}; "
        f"{len(extra)} unexpected, e.g. {sorted(extra)[:3]}"
    )
    assert {t["execution_id"] for t in trades} == corpus.expected

    # Each trade names the file and line it came from, and that line really holds it.
    contents = {str(watch / name): [HEADER, *lines] for name, lines in plan.bulk + plan.daily}
    for trade in trades:
        line = contents[trade["source_file"]][trade["source_line"] - 1]
        assert line.split(",")[5] == trade["execution_id"], (trade, line)

    rejections = journal.rows("SELECT source_file, line, reason FROM import_rejections")
    seen = [(r["source_file"], r["line"]) for r in rejections]
    want = sorted((str(watch / name), n) for name, lines in corpus.bad.items() for n in lines)
    assert sorted(seen) == want, f"rejections {sorted(seen)} != bad rows {want}"
    assert {r["reason"] for r in rejections} <= {"bad_price"}

    for row in journal.rows('SELECT path, "offset", pending_bytes, status FROM import_files'):
        size = Path(row["path"]).stat().st_size
        assert (row["offset"], row["pending_bytes"], row["status"]) == (size, 0, "ok"), row

    # Round trips were written in the fills' own transactions: after every kill they equal
    # a from-scratch rebuild of the trades.
    stored = normalized(stored_round_trips(journal.engine))
    assert stored == normalized(reference_round_trips(trades_of(journal.engine)))
    assert stored, "no round trips at all"
