"""Big folders: what an idle rescan and a cold start cost, beside the stat floor.

For each folder size (default 2,000 and 10,000 files of 20 rows) in one run:

- the stat floor: CPU to list the folder and ``os.stat`` every file in Python;
- cold start: the real daemon as a subprocess on a fresh SQLite journal, from spawn until
  it reports itself idle with every row committed (its STATUS= line), per file; its
  heartbeat due every ``--heartbeat-interval`` seconds (1 by default: due all through the
  catch-up, as it is for a catch-up that starts any time after the daemon), so a heartbeat
  that waits on the importer's write lock shows here. A catch-up that has not finished
  after ``--timeout`` seconds is reported per file imported so far;
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
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

# The row generator and the daemon subprocess are the tests' own: one copy of each, in
# tests/support/.
REPO = Path(__file__).resolve().parent.parent
if str(REPO / "tests") not in sys.path:
    sys.path.insert(0, str(REPO / "tests"))

from support.daemon import DaemonProcess  # noqa: E402
from support.rows import ExecutionGenerator, write_export  # noqa: E402

TZ = "America/New_York"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def generate(folder: Path, files: int, rows: int, seed: int = 15) -> None:
    """Daily files ``NinjaTrader_Executions_YYYYMMDD.csv`` of ``rows`` executions each, one
    weekday after the other from 2000, from the shared generator (the tests' rows)."""
    gen = ExecutionGenerator(seed, first_day=date(2000, 1, 3))
    folder.mkdir(parents=True)
    for _ in range(files):
        write_export(folder / f"NinjaTrader_Executions_{gen.day:%Y%m%d}.csv", gen, rows)
        gen.start_day(gen.day + timedelta(days=1))


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


def daemon(
    work: Path, folder: Path, db: Path, rescan: float, heartbeat: float = 30.0
) -> DaemonProcess:
    """The daemon as the tests run it, on ``folder`` with the daemon's own settle time and a
    heartbeat every ``heartbeat`` seconds; its JSON log (debug: every rescan) in ``work``."""
    return DaemonProcess(
        folder,
        f"sqlite:///{db}",
        # Later flags win: these replace the test defaults DaemonProcess passes.
        "--source-timezone",
        TZ,
        "--instance-name",
        "bench",
        "--rescan-interval",
        str(rescan),
        "--log-level",
        "debug",
        settle=None,
        log_dir=work,
        env={"CSV_IMPORT_HEARTBEAT_INTERVAL": str(heartbeat)},
    )


def idle_cpu(run: DaemonProcess, window: float) -> tuple[float, int]:
    """CPU seconds and periodic rescans over ``window`` seconds."""
    rescans, cpu = len(run.events("rescan")), cpu_of(run.pid)
    time.sleep(window)  # a measurement window, not a wait for a condition
    return cpu_of(run.pid) - cpu, len(run.events("rescan")) - rescans


def measure(work: Path, files: int, args: argparse.Namespace) -> dict[str, Any]:
    folder, db = work / f"watch-{files}", work / f"journal-{files}.sqlite3"
    generate(folder, files, args.rows)
    floor = stat_floor(folder)
    run = daemon(work, folder, db, args.rescan_interval, args.heartbeat_interval)
    started = time.perf_counter()
    with run:  # starts it
        run.wait_ready(timeout=600)
        ready = time.perf_counter() - started
        try:
            run.wait_idle(rows=files * args.rows, timeout=args.timeout)
        except AssertionError:  # too slow to wait for: per file imported so far
            done = time.perf_counter() - started
            imported = _files_imported(db)
            run.stop(60)
            return {
                "files": files,
                "catch_up_incomplete": True,
                "files_imported": imported,
                "cold_start_ms_per_file": done * 1000 / max(imported, 1),
            }
        done = time.perf_counter() - started
        time.sleep(args.rescan_interval * 2)  # let the queue drain before the window opens
        busy, rescans = idle_cpu(run, args.window)
        memory = memory_of(run.pid)
        run.stop(60)
    with daemon(work, folder, db, 0) as quiet:
        quiet.wait_ready(timeout=600)
        time.sleep(1.0)
        base, _ = idle_cpu(quiet, args.window)
        quiet.stop(60)
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
        # From READY=1 (start-up and migrations behind) to idle: the catch-up alone.
        "catch_up_ms_per_file": (done - ready) * 1000 / files,
        "peak_rss_mib": memory.get("VmHWM", 0) / 1024,
        "rss_mib": memory.get("VmRSS", 0) / 1024,
    }


def _files_imported(db: Path) -> int:
    with sqlite3.connect(db, timeout=30) as conn:
        return int(conn.execute("SELECT count(*) FROM import_files").fetchone()[0])


def profile(work: Path, files: int, rows: int) -> None:
    """cProfile of the in-process import of a folder (the importer thread's catch-up path)."""
    from csv_import_daemon.config.settings import load_settings  # noqa: PLC0415
    from csv_import_daemon.db.engine import make_engine  # noqa: PLC0415
    from csv_import_daemon.db.schema import prepare_database  # noqa: PLC0415
    from csv_import_daemon.importing.service import ImportService  # noqa: PLC0415

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
        "| cold start, ms/file (daemon subprocess) | catch-up after READY, ms/file "
        "| peak RSS MiB | RSS MiB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        if r.get("catch_up_incomplete"):
            lines.append(
                f"| {r['files']:,} | | | | {r['cold_start_ms_per_file']:.2f} "
                f"(only {r['files_imported']:,} files in) | | | |"
            )
            continue
        lines.append(
            f"| {r['files']:,} | {r['stat_floor_ms_per_1000']:.1f} "
            f"| {r['idle_rescan_cpu_ms_per_1000']:.1f} | {r['idle_rescan_vs_floor']:.1f} "
            f"| {r['cold_start_ms_per_file']:.2f} | {r['catch_up_ms_per_file']:.2f} "
            f"| {r['peak_rss_mib']:.0f} "
            f"| {r['rss_mib']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, nargs="+", default=[2000, 10000])
    p.add_argument("--rows", type=int, default=20, help="rows per file")
    p.add_argument("--rescan-interval", type=float, default=1.0)
    p.add_argument("--window", type=float, default=10.0, help="seconds of idle measured")
    p.add_argument(
        "--heartbeat-interval", type=float, default=1.0, help="the daemon's heartbeat_interval"
    )
    p.add_argument("--timeout", type=float, default=900.0, help="longest catch-up waited for")
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
