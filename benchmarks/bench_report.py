"""Benchmark: the journal page for a busy trader's year (60,000 fills, ~17,000 round trips).

    .venv/bin/python benchmarks/bench_report.py [--fills 60000] [--repeats 5]

Imports the fills (a seeded generator, one file a trading day) into a fresh
SQLite journal in a temporary folder, then times, best of ``--repeats``:

- ``read_s``: reading the round trips (adding up the figures as they are read), the
  table's fills and the journal's health (read-only);
- ``render_s``: the page from that data (SVG, calendar, packed table, template);
- ``total_s``: both, as ``report`` and the daemon's rewriter run them;
- ``*_cpu_s``: the same in this process's CPU time, which a loaded shared machine (see
  ``load_average``) disturbs far less than the wall clock;

and gives the page's size. Targets: render under 1 s, page under 2 MB. One JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO / "tests") not in sys.path:
    sys.path.insert(0, str(REPO / "tests"))

from csv_import_daemon.config.settings import Settings, load_settings  # noqa: E402
from csv_import_daemon.db.engine import make_engine  # noqa: E402
from csv_import_daemon.db.readonly import reading, readonly_engine  # noqa: E402
from csv_import_daemon.db.schema import prepare_database  # noqa: E402
from csv_import_daemon.importing.service import ImportService  # noqa: E402
from csv_import_daemon.reports.journal_data import PageFilter, load_journal  # noqa: E402
from csv_import_daemon.reports.page import PageOptions, render_page  # noqa: E402
from support.rows import HEADER, clock  # noqa: E402

DAYS = 250  # a trading year
ACCOUNTS = ("Sim101", "APEX-1", "APEX-2")
INSTRUMENTS = (
    ("MNQ 03-25", 21000_00, 25),
    ("ES 03-25", 5900_00, 25),
    ("FDAX 03-25", 19000_00, 100),
)
ENTRIES, EXITS = ("Entry", "Long", "Short", "Add"), ("Target1", "Stop1", "Exit", "Close")


def _line(rng: random.Random, fill: tuple[str, str, int, int], when: datetime, name: str) -> str:
    """One execution line; ``fill`` is (account, "INSTRUMENT,ACTION", quantity, cents)."""
    account, order, qty, cents = fill
    return (
        f"{order},{qty},{cents // 100}.{cents % 100:02d},{clock(when)},"
        f"{rng.getrandbits(128):032x},{'Entry' if name in ENTRIES else 'Exit'},-,"
        f"{rng.getrandbits(64):016x},{name},${qty * 52 // 100}.{qty * 52 % 100:02d},1,"
        f"{account},Sim,"
    )


def day_lines(rng: random.Random, day: date, fills: int) -> list[str]:
    """About ``fills`` fills of one trading day: round trips of 1-2 entry fills and 1-3
    exits (3.5 fills a round trip on average), flat after each, from 09:30 New York."""
    lines: list[str] = []
    when = datetime(day.year, day.month, day.day, 9, 30)
    while len(lines) < fills:
        account = rng.choice(ACCOUNTS)
        inst, base, tick = rng.choice(INSTRUMENTS)
        side = rng.choice(("Buy", "Sell"))
        other = "Sell" if side == "Buy" else "Buy"
        entries, exits = rng.choice((1, 2)), rng.choice((1, 2, 3))
        qty = max(entries, exits) * rng.randint(1, 2)
        price = base + tick * rng.randint(-400, 400)
        for part in _split(qty, entries):
            fill = (account, f"{inst},{side}", part, price)
            lines.append(_line(rng, fill, when, rng.choice(ENTRIES)))
            when += timedelta(seconds=rng.randint(1, 20))
        for part in _split(qty, exits):
            fill = (account, f"{inst},{other}", part, price + tick * rng.randint(-40, 40))
            lines.append(_line(rng, fill, when, rng.choice(EXITS)))
            when += timedelta(seconds=rng.randint(1, 20))
    return lines


def _split(qty: int, parts: int) -> list[int]:
    return [qty // parts + (1 if i < qty % parts else 0) for i in range(parts)]


def build(folder: Path, fills: int) -> tuple[Settings, int]:
    url = f"sqlite:///{folder / 'journal.sqlite3'}"
    settings = load_settings(
        {"database_url": url, "source_timezone": "America/New_York", "date_order": "mdy"},
        environ={},
    )
    engine = make_engine(settings)
    prepare_database(engine, settings)
    service = ImportService(engine, settings)
    rng = random.Random(23)
    day = date(2025, 1, 2)
    for n in range(DAYS):
        while day.weekday() >= 5:
            day += timedelta(days=1)
        rows = day_lines(rng, day, fills // DAYS)
        path = folder / f"NinjaTrader_Executions_{day:%Y%m%d}.csv"
        path.write_text(HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
        assert service.import_file(path).status == "imported", n
        day += timedelta(days=1)
    engine.dispose()
    return settings, DAYS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=60_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        settings, days = build(folder, args.fills)
        imported_s = time.perf_counter() - started
        engine = readonly_engine(settings)
        options = PageOptions(rollover=settings.rollover, zone=settings.tz)
        reads, renders, cpu_reads, cpu_renders = [], [], [], []
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            with reading(engine) as conn:
                data = load_journal(conn, PageFilter(), settings.rollover, zone=settings.tz)
            t1, c1 = time.perf_counter(), time.process_time()
            html = render_page(data, options)
            t2, c2 = time.perf_counter(), time.process_time()
            reads.append(t1 - t0)
            renders.append(t2 - t1)
            cpu_reads.append(c1 - c0)
            cpu_renders.append(c2 - c1)
        engine.dispose()
        size = len(html.encode())
        views = data.views.currencies if data.views else []
        closed = sum(v.summary.round_trips for v in views)
        print(
            json.dumps(
                {
                    "fills": args.fills,
                    "trading_days": days,
                    "round_trips": data.selected,
                    "in_table": len(data.trips),
                    "closed": closed,
                    "fills_in_table": sum(len(t["executions"]) for t in data.trips),
                    "import_s": round(imported_s, 1),
                    "read_s": round(min(reads), 3),
                    "render_s": round(min(renders), 3),
                    "total_s": round(min(r + w for r, w in zip(reads, renders, strict=True)), 3),
                    "read_cpu_s": round(min(cpu_reads), 3),
                    "render_cpu_s": round(min(cpu_renders), 3),
                    "load_average": os.getloadavg()[0],
                    "page_bytes": size,
                    "page_mb": round(size / 1_000_000, 2),
                    "targets": {"render_s": 1.0, "page_mb": 2.0},
                    "render_ok": min(renders) < 1.0,
                    "render_cpu_ok": min(cpu_renders) < 1.0,
                    "size_ok": size < 2_000_000,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
