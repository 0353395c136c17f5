"""How long a command takes to answer, beside the bare interpreter, in the same run.

Whole processes, interleaved rounds (so a load change hits every command alike), on a small
migrated SQLite journal (one daily file of 200 fills imported). Prints the minimum and
median wall and CPU (user + sys) time of each command and the ratios the targets use:

- ``--version`` against ``python -c pass`` (target <= 1.5x);
- ``status``, ``pnl``, ``round-trips`` against ``python -c "import sqlalchemy"`` (<= 2x).

    .venv/bin/python benchmarks/bench_startup.py [--rounds 15] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO / "tests") not in sys.path:
    sys.path.insert(0, str(REPO / "tests"))

from support.rows import ExecutionGenerator, write_export  # noqa: E402

PY = sys.executable


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one whole process (CPU from wait4: the child alone)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="rounds (default: 15)")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        home = Path(tmp)
        url = f"sqlite:///{home / 'journal.sqlite3'}"
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / "config"),
            "CSV_IMPORT_DATABASE_URL": url,
            "CSV_IMPORT_SOURCE_TIMEZONE": "America/New_York",
        }
        day = home / "NinjaTrader_Executions_20251031.csv"
        write_export(day, ExecutionGenerator(seed=7, first_day=date(2025, 10, 31)), 200)
        _run([PY, "-m", "csv_import_daemon", "import", str(day)], env)
        cli = [PY, "-m", "csv_import_daemon"]
        commands = {
            "python -c pass": [PY, "-c", "pass"],
            'python -c "import sqlalchemy"': [PY, "-c", "import sqlalchemy"],
            "--version": [*cli, "--version"],
            "--help": [*cli, "--help"],
            "status": [*cli, "status"],
            "pnl": [*cli, "pnl"],
            "round-trips": [*cli, "round-trips"],
        }
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, argv in commands.items():
                times[name].append(_run(argv, env))
    figures = {
        name: {
            "wall_min_s": min(w for w, _ in runs),
            "wall_median_s": statistics.median(w for w, _ in runs),
            "cpu_median_s": statistics.median(c for _, c in runs),
        }
        for name, runs in times.items()
    }
    bare = figures["python -c pass"]["wall_median_s"]
    sqla = figures['python -c "import sqlalchemy"']["wall_median_s"]
    print(f"{'command':32} {'wall min':>9} {'wall med':>9} {'cpu med':>9} {'ratio':>7} target")
    for name, f in figures.items():
        base, target = (bare, 1.5) if name in ("--version", "--help") else (sqla, 2.0)
        ratio = f["wall_median_s"] / base
        f["ratio"] = ratio
        shown = "" if name.startswith("python") else f"{ratio:6.2f}x <= {target}x"
        print(
            f"{name:32} {f['wall_min_s']:9.3f} {f['wall_median_s']:9.3f} "
            f"{f['cpu_median_s']:9.3f} {shown}"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
