"""Benchmark: one growing file without IDs, one fill appended and imported at a time.

    .venv/bin/python benchmarks/bench_appends.py [--fills 3000] [--sample 200]

The exporter add-on's day: a file without an ID column grows by one line, and the daemon's
import service (in process, one ``ImportService`` as the daemon holds it) reads it on from
its checkpoint. The median milliseconds per append over the first and the last ``sample``
appends: flat when an append costs what its new line costs, growing with the file when
earlier lines are read again. One JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from csv_import_daemon.config.settings import load_settings
from csv_import_daemon.db import migrate
from csv_import_daemon.db.engine import make_engine
from csv_import_daemon.importing.service import ImportService

HEADER = "Account,Instrument,Action,Quantity,Price,Time,E/X,Position,Name,Commission"


def line(n: int) -> str:
    at = datetime(2026, 5, 13, 9, 30) + timedelta(seconds=7 * n)
    side = "Buy" if n % 2 == 0 else "Sell"
    price = f"{21000 + (n % 40) * 0.25:.2f}"
    return f"Sim101,MNQ 06-26,{side},1,{price},{at:%m/%d/%Y %H:%M:%S},Entry,-,Entry,$0.52"


def run(fills: int, sample: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-appends-") as tmp:
        work = Path(tmp)
        settings = load_settings(
            {
                "database_url": f"sqlite:///{work / 'journal.sqlite3'}",
                "source_timezone": "America/New_York",
                "instance_name": "bench",
            },
            environ={},
        )
        engine = make_engine(settings)
        migrate.upgrade(engine)
        service = ImportService(engine, settings)
        path = work / "NinjaTrader_Executions_20260513.csv"
        path.write_text(HEADER + "\n", encoding="utf-8")
        took: list[float] = []
        with path.open("a", encoding="utf-8") as f:
            for n in range(fills):
                f.write(line(n) + "\n")
                f.flush()
                started = time.perf_counter()
                result = service.import_file(path, final_line_ok=True)
                took.append(time.perf_counter() - started)
                assert result.inserted == 1, result.as_dict()
        engine.dispose()
    return {
        "fills": fills,
        "first_ms": round(statistics.median(took[:sample]) * 1000, 3),
        "last_ms": round(statistics.median(took[-sample:]) * 1000, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=3000)
    parser.add_argument("--sample", type=int, default=200)
    args = parser.parse_args()
    json.dump(run(args.fills, args.sample), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
