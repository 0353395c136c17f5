"""Benchmark: what round trips cost an import (issue 13, item 6).

    .venv/bin/python benchmarks/bench_round_trips.py --rows 1000000
    .venv/bin/python benchmarks/bench_round_trips.py --never-flat 60 --day-fills 500

Measures, on fresh SQLite files in a temporary folder:
(a) a cold import of N fills with round trips kept current (the shipped code);
(b) the same import without round trips (no refresh call, no trades index): the import alone;
(c) one fill appended to a day whose last round trip is open, with and without round trips
    (median of repeated appends).
Prints one JSON object; the ratio (a)/(b) - 1 is the round trips' share (target < 25 %),
(c)'s difference is the extra per appended fill (target < 5 ms). ``--never-flat DAYS``
measures only (d): the CPU of each daily file of a position that never returns to flat.
``--cold N`` runs (a) and (b) N times alternately and keeps the best of each; the share is
also given in CPU time of this process, which other load on a shared machine disturbs less
than the wall clock.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from csv_import_daemon.config.settings import Settings, load_settings
from csv_import_daemon.db import migrate
from csv_import_daemon.db.engine import make_engine
from csv_import_daemon.importing import file_transaction as transaction
from csv_import_daemon.importing import service as importer
from csv_import_daemon.importing import write_session

HEADER = (
    "Instrument,Action,Quantity,Price,Time,ID,E/X,Position,Order ID,Name,Commission,"
    "Rate,Account,Connection,"
)
KEYS = [(a, i) for a in ("Sim101", "APEX-1", "APEX-2") for i in ("MNQ 12-25", "ES 12-25")]
START = datetime(2025, 10, 27, 8, 0, 0)


def _clock(dt: datetime) -> str:
    hour = dt.hour % 12 or 12
    ampm = "AM" if dt.hour < 12 else "PM"
    return f"{dt.month}/{dt.day}/{dt.year} {hour}:{dt.minute:02}:{dt.second:02} {ampm}"


class Fills:
    """Random but realistic fills: per key a position that goes flat every few fills."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.position = dict.fromkeys(KEYS, 0)
        self.price = dict.fromkeys(KEYS, 21000.0)
        self.n = 0

    def line(self, when: datetime, key: tuple[str, str] | None = None, grow: bool = False) -> str:
        rng = self.rng
        key = key or rng.choice(KEYS)
        pos = self.position[key]
        qty = rng.randint(1, 3)
        if pos == 0 or grow:
            side = 1 if (pos > 0 or (pos == 0 and rng.random() < 0.5)) else -1
            flag = "Entry"
        elif rng.random() < 0.6:
            side, qty, flag = (-1 if pos > 0 else 1), min(qty, abs(pos)), "Exit"
        else:
            side, flag = (1 if pos > 0 else -1), "Entry"
        self.position[key] = pos + side * qty
        self.price[key] += rng.choice((-0.5, -0.25, 0, 0.25, 0.5))
        self.n += 1
        action = "Buy" if side > 0 else "Sell"
        return (
            f"{key[1]},{action},{qty},{self.price[key]:.2f},{_clock(when)},"
            f"{rng.getrandbits(128):032x},{flag},-,{rng.getrandbits(64):016x},n,$0.52,1,"
            f"{key[0]},Sim,"
        )


def write_file(path: Path, rows: int, seed: int) -> Fills:
    fills = Fills(seed)
    with open(path, "w", encoding="utf-8") as f:
        f.write(HEADER + "\n")
        for i in range(rows):
            f.write(fills.line(START + timedelta(seconds=i // 3)) + "\n")
    return fills


@contextmanager
def without_round_trips(engine: Engine) -> Iterator[None]:
    """The import alone: no refresh call and no trades index."""
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX IF EXISTS ix_trades_account_contract_executed_at"))
    modules = (transaction, write_session)  # mid-file refreshes, refreshes at commits
    saved = [m.refresh_round_trips for m in modules]
    for m in modules:
        m.refresh_round_trips = lambda *a, **k: 0  # type: ignore[assignment]
    try:
        yield
    finally:
        for m, real in zip(modules, saved, strict=True):
            m.refresh_round_trips = real  # type: ignore[method-assign]


def fresh(folder: Path, name: str) -> tuple[Settings, Engine]:
    settings = load_settings(
        {
            "database_url": f"sqlite:///{folder / name}",
            "source_timezone": "America/New_York",
            "settle": 0.0,
            "log_level": "error",
        },
        environ={},
    )
    engine = make_engine(settings)
    migrate.upgrade(engine)
    return settings, engine


def cold(folder: Path, csv: Path, trips: bool, run: int = 0) -> tuple[float, float]:
    """Seconds of a cold import: (wall clock, this process's CPU time)."""
    settings, engine = fresh(folder, f"cold-{trips}-{run}.sqlite3")
    try:
        ctx = contextmanager(lambda: (yield))() if trips else without_round_trips(engine)
        with ctx:
            started, cpu = time.perf_counter(), time.process_time()
            result = importer.ImportService(engine, settings).import_file(csv)
            took = time.perf_counter() - started, time.process_time() - cpu
        assert result.status == "imported", result
        return took
    finally:
        engine.dispose()
        for path in folder.glob(f"cold-{trips}-{run}.sqlite3*"):
            path.unlink()


def appended(folder: Path, trips: bool, day_rows: int, repeats: int) -> list[float]:
    """ms per import of one fill appended to a day whose round trip is open."""
    settings, engine = fresh(folder, f"append-{trips}.sqlite3")
    csv = folder / f"day-{trips}.csv"
    fills = write_file(csv, day_rows, seed=7)
    key = KEYS[0]
    when = START + timedelta(seconds=day_rows)
    with open(csv, "a", encoding="utf-8") as f:  # an open round trip of size, on KEYS[0]
        for i in range(200):
            f.write(fills.line(when + timedelta(seconds=i), key=key, grow=True) + "\n")
    out: list[float] = []
    try:
        ctx = contextmanager(lambda: (yield))() if trips else without_round_trips(engine)
        with ctx:
            service = importer.ImportService(engine, settings)
            service.import_file(csv)
            for i in range(repeats):
                line = fills.line(when + timedelta(seconds=300 + i), key=key, grow=True)
                with open(csv, "a", encoding="utf-8") as f:
                    f.write(line + "\n")
                started = time.perf_counter()
                result = service.import_file(csv, final_line_ok=True)
                out.append((time.perf_counter() - started) * 1000)
                assert result.inserted == 1, result
    finally:
        engine.dispose()
    return out


def never_flat(folder: Path, days: int, day_fills: int) -> list[float]:
    """CPU seconds of each import of ``days`` daily files of one (account, contract) that
    never returns to flat (every exit smaller than the position): the round trip that
    stays open grows by ``day_fills`` fills a day."""
    settings, engine = fresh(folder, "never-flat.sqlite3")
    fills = Fills(seed=3)
    key = KEYS[0]
    fills.position[key] = 1_000_000  # far from flat: no exit can close it
    out: list[float] = []
    try:
        service = importer.ImportService(engine, settings)
        for day in range(days):
            csv = folder / f"NinjaTrader_Executions_day{day:03d}.csv"
            start = START + timedelta(days=day)
            with open(csv, "w", encoding="utf-8") as f:
                f.write(HEADER + "\n")
                for i in range(day_fills):
                    f.write(fills.line(start + timedelta(seconds=i), key=key) + "\n")
            cpu = time.process_time()
            result = service.import_file(csv)
            out.append(time.process_time() - cpu)
            assert result.inserted == day_fills, result
    finally:
        engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--day-rows", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--cold", type=int, default=1, help="cold imports of each kind (best)")
    parser.add_argument(
        "--never-flat",
        type=int,
        default=0,
        metavar="DAYS",
        help="only: DAYS daily files of a position never flat, CPU per file first vs last",
    )
    parser.add_argument("--day-fills", type=int, default=500, help="fills a day (--never-flat)")
    args = parser.parse_args()
    if args.never_flat:
        with tempfile.TemporaryDirectory(prefix="bench-rt-") as tmp:
            costs = never_flat(Path(tmp), args.never_flat, args.day_fills)
        first, last = costs[:5], costs[-5:]
        print(
            json.dumps(
                {
                    "days": args.never_flat,
                    "fills_a_day": args.day_fills,
                    "first_5_files_cpu_s_median": round(statistics.median(first), 3),
                    "last_5_files_cpu_s_median": round(statistics.median(last), 3),
                    "per_file_cpu_s": [round(c, 3) for c in costs],
                },
                indent=2,
            )
        )
        return
    report: dict[str, Any] = {"rows": args.rows}
    with tempfile.TemporaryDirectory(prefix="bench-rt-") as tmp:
        folder = Path(tmp)
        csv = folder / "fills.csv"
        write_file(csv, args.rows, seed=1)
        # Alternated, best of each: other load on a shared machine only ever adds time.
        runs = [(cold(folder, csv, False, i), cold(folder, csv, True, i)) for i in range(args.cold)]
        alone = min(r[0][0] for r in runs)
        with_trips = min(r[1][0] for r in runs)
        alone_cpu = min(r[0][1] for r in runs)
        with_trips_cpu = min(r[1][1] for r in runs)
        report["cold_import_alone_s"] = round(alone, 2)
        report["cold_import_with_round_trips_s"] = round(with_trips, 2)
        report["round_trip_share_pct"] = round((with_trips / alone - 1) * 100, 1)
        report["cold_import_alone_cpu_s"] = round(alone_cpu, 2)
        report["cold_import_with_round_trips_cpu_s"] = round(with_trips_cpu, 2)
        report["round_trip_share_cpu_pct"] = round((with_trips_cpu / alone_cpu - 1) * 100, 1)
        base = appended(folder, False, args.day_rows, args.repeats)
        extra = appended(folder, True, args.day_rows, args.repeats)
        report["append_alone_ms_median"] = round(statistics.median(base), 2)
        report["append_with_round_trips_ms_median"] = round(statistics.median(extra), 2)
        report["append_extra_ms"] = round(statistics.median(extra) - statistics.median(base), 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
