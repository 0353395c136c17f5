"""Benchmark: what each reporting command costs on a journal of years (1,000,000 fills).

    .venv/bin/python benchmarks/bench_years.py [--fills 1000000] [--keep DIR]

Builds a SQLite journal of ``--fills`` fills (one file a trading day over 250 days, the
journal-page benchmark's generator: three accounts, three instruments, round trips of 2-5
fills, so about 290,000 round trips for a million fills), then runs each command as the
user does, as a subprocess, and gives its CPU seconds (user + system, from ``wait4``), wall
seconds and peak RSS. Target for each: under 1 s of CPU. Commands whose output grows with
the journal (every round trip as JSON, ``verify`` of every file) are shown too, with what
bounds them. ``--keep DIR`` reuses (or keeps) the journal in DIR between runs. One JSON
object on stdout, a table on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_report import build
from isolated import isolated_env

COMMANDS: list[tuple[str, list[str]]] = [
    ("status", ["status"]),
    ("status --json", ["status", "--json"]),
    ("pnl --by day", ["pnl", "--by", "day"]),
    ("pnl --by month", ["pnl", "--by", "month"]),
    ("pnl --by day --json", ["pnl", "--by", "day", "--json"]),
    ("round-trips --since (last week)", ["round-trips", "--since", "2025-12-10"]),
    (
        "round-trips --account --since",
        ["round-trips", "--account", "APEX-1", "--since", "2025-11-17"],
    ),
    ("report (the journal page)", ["report", "--out", "{dir}/page.html"]),
    ("verify (one daily file)", ["verify", "{last}"]),
    ("round-trips --json (all of them)", ["round-trips", "--json"]),
    ("verify (every file)", ["verify"]),
]


def timed(argv: list[str], env: dict[str, str]) -> dict[str, float]:
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} exited {code}: {err[-2000:]}")
    return {
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "wall_s": wall,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "exit": code,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fills", type=int, default=1_000_000)
    p.add_argument("--keep", type=Path, help="a folder to keep (and reuse) the journal in")
    p.add_argument("--only", nargs="*", help="run only commands whose label contains these")
    args = p.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-years-"))
    folder.mkdir(parents=True, exist_ok=True)
    built = None
    if not (folder / "journal.sqlite3").exists():
        started = time.process_time()
        build(folder, args.fills)
        built = time.process_time() - started
    home = folder / "home"
    home.mkdir(exist_ok=True)
    env = isolated_env(
        home, folder / "journal.sqlite3", source_timezone="America/New_York", date_order="mdy"
    )
    results: dict[str, Any] = {}
    for label, argv in COMMANDS:
        if args.only and not any(o in label for o in args.only):
            continue
        last = max(folder.glob("NinjaTrader_Executions_*.csv"))  # the last trading day's file
        cmd = [
            sys.executable,
            "-m",
            "csv_import_daemon",
            *(a.format(dir=folder, last=last) for a in argv),
        ]
        results[label] = timed(cmd, env)
        r = results[label]
        print(
            f"{label:38} cpu {r['cpu_s']:6.2f} s  wall {r['wall_s']:6.2f} s  "
            f"rss {r['peak_rss_mib']:6.0f} MiB  exit {r['exit']}",
            file=sys.stderr,
        )
    out = {
        "fills": args.fills,
        "build_cpu_s": built,
        "load_average": os.getloadavg(),
        "results": results,
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
