"""Big folders: what an idle rescan and a cold start cost, beside the stat floor.

For each folder size (default 2,000 and 10,000 files of 20 rows) in one run:

- the stat floor: CPU to list the folder and ``os.stat`` every file in Python;
- cold start: the real daemon as a subprocess on a fresh SQLite journal, from spawn until
  every row is committed (polled in the journal), per file;
- idle rescans: that daemon, everything imported, with ``--rescan-interval`` short; its
  CPU (``/proc/PID/stat``) over a window, minus an idle daemon's (rescans off), per rescan
  and per 1,000 files;
- memory: the daemon's peak and current RSS after the idle window.

``--profile`` instead profiles the in-process import of the folder (cProfile, top 30).

    .venv/bin/python benchmarks/bench_folders.py [--files 2000 10000] [--rows 20]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HEADER = (
    "Instrument,Action,Quantity,Price,Time,ID,E/X,Position,Order ID,Name,Commission,"
    "Rate,Account,Connection,"
)
TZ = "America/New_York"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def generate(folder: Path, files: int, rows: int, seed: int = 15) -> None:
    """Daily files ``NinjaTrader_Executions_YYYYMMDD.csv`` of ``rows`` executions each."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    for i in range(files):
        year, day = 2000 + i // 300, i % 300
        month, dom = 1 + day // 25, 1 + day % 25
        lines = [HEADER]
        for r in range(rows):
            side = "Buy" if rng.random() < 0.5 else "Sell"
            lines.append(
                f"MNQ MAR25,{side},{rng.randint(1, 3)},21{rng.randint(100, 999)}.25,"
                f"{month}/{dom}/{year} {9 + r // 60}:{r % 60:02d}:00 AM,"
                f"{rng.getrandbits(128):032x},Entry,1 L,{rng.getrandbits(128):032x},Entry,"
                "$0.52,1,Sim101,Sim,"
            )
        name = f"NinjaTrader_Executions_{year:04d}{month:02d}{dom:02d}.csv"
        (folder / name).write_bytes(("\r\n".join(lines) + "\r\n").encode())


def stat_floor(folder: Path, repeats: int = 7) -> float:
    """Best CPU seconds of listing ``folder`` and stat-ing every file."""
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        for entry in os.scandir(folder):
            os.stat(entry.path)
        best = min(best, time.process_time() - started)
    return best


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def memory_of(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = int(value.split()[0])
    return out


class DaemonRun:
    """The daemon as a subprocess on ``folder``; JSON logs into a file."""

    def __init__(self, work: Path, folder: Path, db: Path, rescan: float, label: str) -> None:
        self.log_path = work / f"{label}.stderr"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CSV_IMPORT_")}
        argv = [
            sys.executable,
            "-m",
            "csv_import_daemon",
            "run",
            "--watch",
            str(folder),
            "--database",
            f"sqlite:///{db}",
            "--source-timezone",
            TZ,
            "--instance-name",
            "bench",
            "--rescan-interval",
            str(rescan),
            "--log-level",
            "debug",
            "--log-format",
            "json",
        ]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(argv, stderr=self._log, stdout=subprocess.DEVNULL, env=env)

    def events(self, name: str) -> int:
        needle = f'"event": "{name}"'
        return self.log_path.read_text(errors="replace").count(needle)

    def wait_for(self, name: str, deadline_s: float = 600.0) -> float:
        deadline = time.monotonic() + deadline_s
        while self.events(name) == 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"daemon gave no {name!r} event; see {self.log_path}")
            time.sleep(0.02)
        return time.perf_counter() - self.started

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def count_trades(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:
        return 0
    try:
        return int(conn.execute("SELECT count(*) FROM trades").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def wait_rows(run: DaemonRun, db: Path, rows: int, deadline_s: float = 900.0) -> float:
    deadline = time.monotonic() + deadline_s
    while count_trades(db) < rows:
        if run.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"rows never reached {rows}; see {run.log_path}")
        time.sleep(0.05)
    return time.perf_counter() - run.started


def idle_cpu(run: DaemonRun, window: float) -> tuple[float, int]:
    """CPU seconds and periodic rescans over ``window`` seconds."""
    rescans, cpu = run.events("rescan"), cpu_of(run.proc.pid)
    time.sleep(window)  # a measurement window, not a wait for a condition
    return cpu_of(run.proc.pid) - cpu, run.events("rescan") - rescans


def measure(work: Path, files: int, args: argparse.Namespace) -> dict[str, Any]:
    folder, db = work / f"watch-{files}", work / f"journal-{files}.sqlite3"
    generate(folder, files, args.rows)
    floor = stat_floor(folder)
    run = DaemonRun(work, folder, db, args.rescan_interval, f"cold-{files}")
    try:
        ready = run.wait_for("ready")
        done = wait_rows(run, db, files * args.rows)
        time.sleep(args.rescan_interval * 2)  # let the queue drain before the window opens
        busy, rescans = idle_cpu(run, args.window)
        memory = memory_of(run.proc.pid)
    finally:
        run.stop()
    quiet = DaemonRun(work, folder, db, 0, f"quiet-{files}")
    try:
        quiet.wait_for("ready")
        time.sleep(1.0)
        base, _ = idle_cpu(quiet, args.window)
    finally:
        quiet.stop()
    per_rescan = (busy - base) / max(rescans, 1)
    return {
        "files": files,
        "rows_per_file": args.rows,
        "stat_floor_ms_per_1000": floor * 1e6 / files,
        "idle_rescan_cpu_ms_per_1000": per_rescan * 1e6 / files,
        "idle_rescan_vs_floor": per_rescan / floor if floor else None,
        "rescans_in_window": rescans,
        "cold_start_s": done,
        "cold_start_ready_s": ready,
        "cold_start_ms_per_file": done * 1000 / files,
        "peak_rss_mib": memory.get("VmHWM", 0) / 1024,
        "rss_mib": memory.get("VmRSS", 0) / 1024,
    }


def profile(work: Path, files: int, rows: int) -> None:
    """cProfile of the in-process import of a folder (the importer thread's catch-up path)."""
    from csv_import_daemon.config import load_settings  # noqa: PLC0415
    from csv_import_daemon.db.engine import make_engine  # noqa: PLC0415
    from csv_import_daemon.db.migrate import prepare_database  # noqa: PLC0415
    from csv_import_daemon.importer import ImportService  # noqa: PLC0415

    folder = work / "profile"
    generate(folder, files, rows)
    settings = load_settings(
        {
            "database_url": f"sqlite:///{work / 'profile.sqlite3'}",
            "source_timezone": TZ,
            "instance_name": "bench",
        },
        environ={},
    )
    engine = make_engine(settings)
    prepare_database(engine, settings)
    service = ImportService(engine, settings)
    paths = sorted(folder.iterdir())
    many = getattr(service, "import_many", None)
    prof = cProfile.Profile()
    started, cpu = time.perf_counter(), time.process_time()
    prof.enable()
    if many is not None:
        for _ in many(paths):
            pass
    else:
        for path in paths:
            service.import_file(path)
    prof.disable()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"{files} files: {wall * 1000 / files:.2f} ms wall, {cpu * 1000 / files:.2f} ms CPU")
    print("per file (under cProfile)")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(30)


def render(results: list[dict[str, Any]]) -> str:
    lines = [
        "| files | stat floor, ms CPU /1000 files | idle rescan, ms CPU /1000 files | x floor "
        "| cold start, ms/file (daemon subprocess) | peak RSS MiB | RSS MiB |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['files']:,} | {r['stat_floor_ms_per_1000']:.1f} "
            f"| {r['idle_rescan_cpu_ms_per_1000']:.1f} | {r['idle_rescan_vs_floor']:.1f} "
            f"| {r['cold_start_ms_per_file']:.2f} | {r['peak_rss_mib']:.0f} "
            f"| {r['rss_mib']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, nargs="+", default=[2000, 10000])
    p.add_argument("--rows", type=int, default=20, help="rows per file")
    p.add_argument("--rescan-interval", type=float, default=1.0)
    p.add_argument("--window", type=float, default=10.0, help="seconds of idle measured")
    p.add_argument("--profile", action="store_true", help="cProfile the in-process import")
    p.add_argument("--workdir", type=Path)
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-folders-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.profile:
            profile(work, args.files[0], args.rows)
            return 0
        results = [measure(work, n, args) for n in args.files]
        print(render(results))
        print(json.dumps({"load_average": os.getloadavg(), "results": results}, indent=1))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
