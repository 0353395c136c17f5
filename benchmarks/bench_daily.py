"""Benchmark: a month of daily files against the same fills in one file.

    .venv/bin/python benchmarks/bench_daily.py [--days 22] [--fills 500] [--rounds 3]

A daily user imports one ``NinjaTrader_Executions_YYYYMMDD.csv`` a day; a bulk user one
big export. Both hold the same fills here (the tests' generator: positions carried over
from day to day, as a real account's are), each imported with ``csv-import-daemon import``
into a fresh SQLite journal, as a subprocess, in interleaved rounds. Per variant, the best
round's CPU (user + system, ``wait4``) and wall; per fill after subtracting the command's
fixed cost (the same command on a header-only file). Target: the daily files' per-fill
cost at most 1.5x the big file's. One JSON object on stdout, a summary on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from isolated import isolated_env  # noqa: E402

from support.rows import HEADER, ExecutionGenerator, write_export  # noqa: E402


def generate(work: Path, days: int, fills: int) -> tuple[Path, Path, Path]:
    daily, big, empty = work / "daily", work / "big", work / "empty"
    for d in (daily, big, empty):
        d.mkdir()
    gen = ExecutionGenerator(31, first_day=date(2025, 3, 3))
    lines: list[bytes] = []
    for _ in range(days):
        path = daily / f"NinjaTrader_Executions_{gen.day:%Y%m%d}.csv"
        write_export(path, gen, fills)
        lines.extend(path.read_bytes().split(b"\r\n")[1:-1])
        gen.start_day(gen.day + timedelta(days=1))
    (big / "month.csv").write_bytes(HEADER.encode() + b"\r\n" + b"\r\n".join(lines) + b"\r\n")
    (empty / "NinjaTrader_Executions_20250303.csv").write_bytes(HEADER.encode() + b"\r\n")
    return daily, big / "month.csv", empty


def run_import(work: Path, target: Path, label: str) -> dict[str, float]:
    journal = work / f"{label}.sqlite3"
    journal.unlink(missing_ok=True)
    home = work / "home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    env = isolated_env(home, journal, source_timezone="America/New_York")
    argv = [sys.executable, "-m", "csv_import_daemon", "import", str(target)]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{label}: import exited {os.waitstatus_to_exitcode(status)}")
    return {"cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": time.perf_counter() - started}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--days", type=int, default=22)
    p.add_argument("--fills", type=int, default=500, help="fills a day")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-daily-"))
    try:
        daily, big, empty = generate(work, args.days, args.fills)
        best: dict[str, dict[str, float]] = {}
        for _ in range(args.rounds):
            for label, target in (("fixed", empty), ("daily", daily), ("big", big)):
                r = run_import(work, target, label)
                if label not in best or r["cpu_s"] < best[label]["cpu_s"]:
                    best[label] = r
    finally:
        shutil.rmtree(work, ignore_errors=True)
    fills = args.days * args.fills
    fixed = best["fixed"]["cpu_s"]
    per_fill = {k: (best[k]["cpu_s"] - fixed) * 1e6 / fills for k in ("daily", "big")}
    out: dict[str, Any] = {
        "days": args.days,
        "fills": fills,
        "best": best,
        "per_fill_us": per_fill,
        "daily_vs_big_per_fill": per_fill["daily"] / per_fill["big"],
        "daily_vs_big_whole_command": best["daily"]["cpu_s"] / best["big"]["cpu_s"],
        "load_average": os.getloadavg(),
    }
    print(
        f"{fills:,} fills: daily files {per_fill['daily']:.0f} us a fill, one file "
        f"{per_fill['big']:.0f} us a fill (CPU, fixed {fixed:.2f} s subtracted): "
        f"{out['daily_vs_big_per_fill']:.2f}x (target <= 1.5x); whole commands "
        f"{out['daily_vs_big_whole_command']:.2f}x",
        file=sys.stderr,
    )
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
