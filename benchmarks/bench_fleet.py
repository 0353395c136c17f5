"""A fleet on one PostgreSQL: N daemons, each its own folder and account, appending fills.

For each fleet size (default 4 8 16) in one run, against one fresh database on the server
that ``--postgres`` (or CSV_IMPORT_TEST_POSTGRES_URL) names:

- N real daemons (``csv-import-daemon run`` subprocesses, one instance name each) watch N
  folders; N writer threads append one fill at a time to each folder's daily file, at
  random gaps (uniform ``--gap-ms``), for ``--seconds``;
- fills a second: fills committed during the window / window;
- append-to-commit latency: ``trades.imported_at`` (the daemon's clock, written in the
  committing transaction) minus the moment the line was written (same host clock);
- server connections of the database (``pg_stat_activity``), sampled every 0.5 s: peak;
- lock waits (``pg_locks`` not granted, for the database's backends), sampled: peak and
  samples with any; deadlocks: the delta of ``pg_stat_database.deadlocks``;
- server cost: WAL bytes (the whole cluster's, so run it on a quiet server) and the
  database backends' CPU (``/proc``, so the server must be local) per fill;
- afterwards: every fill stored exactly once (ledger and trades counts equal the fills
  written) and ``csv-import-daemon verify`` exits 0 for every folder.

    .venv/bin/python benchmarks/bench_fleet.py [--daemons 4 8 16] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO / "tests") not in sys.path:
    sys.path.insert(0, str(REPO / "tests"))

from support.daemon import DaemonProcess  # noqa: E402
from support.postgres import POSTGRES_ENV  # noqa: E402
from support.processes import CLI, clean_env  # noqa: E402
from support.rows import HEADER, clock  # noqa: E402


def _line(account: str, n: int, when: datetime) -> tuple[str, str]:
    """One fill of ``account`` in the en-US grid layout, and its execution ID."""
    eid = secrets.token_hex(16)
    action = "Buy" if n % 2 == 0 else "Sell"
    entry_exit = "Entry" if n % 2 == 0 else "Exit"
    price = 21000 + (n % 40) * 0.25
    line = (
        f"MNQ 12-25,{action},1,{price:.2f},{clock(when)},{eid},{entry_exit},"
        f"{'1 L' if n % 2 == 0 else '-'},{secrets.token_hex(8)},Entry,0.52,1,{account},Sim,"
    )
    return line, eid


class Writer(threading.Thread):
    """Appends fills to one folder's daily file; remembers when each ID was written."""

    def __init__(self, folder: Path, account: str, seconds: float, gap_ms: tuple[int, int]):
        super().__init__(name=f"writer-{account}", daemon=True)
        self.path = folder / f"NinjaTrader_Executions_{datetime.now(UTC):%Y%m%d}.csv"
        self.path.write_text(HEADER + "\n", encoding="utf-8")
        self.account = account
        self.seconds = seconds
        self.gap = gap_ms
        self.written: dict[str, datetime] = {}
        self.rng = random.Random(account)

    def run(self) -> None:
        end = time.monotonic() + self.seconds
        n = 0
        with open(self.path, "a", encoding="utf-8", newline="") as f:
            while time.monotonic() < end:
                now = datetime.now(UTC).replace(tzinfo=None)
                line, eid = _line(self.account, n, now)
                f.write(line + "\n")
                f.flush()
                self.written[eid] = now
                n += 1
                time.sleep(self.rng.uniform(*self.gap) / 1000)  # the trader's pace, not a wait


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _server_cpu_s(conn: Any, name: str) -> float:
    """CPU seconds the database's backends have used so far (/proc: the server is local)."""
    from sqlalchemy import text  # noqa: PLC0415

    pids = conn.execute(
        text("SELECT pid FROM pg_stat_activity WHERE datname = :n"), {"n": name}
    ).scalars()
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a backend that ended, or a server on another host
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _wal_lsn(conn: Any) -> str:
    from sqlalchemy import text  # noqa: PLC0415

    return str(conn.execute(text("SELECT pg_current_wal_lsn()")).scalar_one())


def _wal_bytes_since(conn: Any, lsn: str) -> int:
    from sqlalchemy import text  # noqa: PLC0415

    query = text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), CAST(:l AS pg_lsn))")
    return int(conn.execute(query, {"l": lsn}).scalar_one())


def _deadlocks(conn: Any, name: str) -> int:
    from sqlalchemy import text  # noqa: PLC0415

    query = text("SELECT deadlocks FROM pg_stat_database WHERE datname = :n")
    return int(conn.execute(query, {"n": name}).scalar_one())


def _sample_while_writing(
    conn: Any, name: str, writers: list[Writer]
) -> tuple[list[tuple[int, int]], float]:
    """Connections and lock waits of the database every 0.5 s while the writers run."""
    from sqlalchemy import text  # noqa: PLC0415

    connections = text("SELECT count(*) FROM pg_stat_activity WHERE datname = :n")
    waiting = text(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE NOT l.granted AND a.datname = :n"
    )
    started = time.monotonic()
    for w in writers:
        w.start()
    samples = []
    while any(w.is_alive() for w in writers):
        samples.append(
            (
                conn.execute(connections, {"n": name}).scalar_one(),
                conn.execute(waiting, {"n": name}).scalar_one(),
            )
        )
        time.sleep(0.5)  # a sampling period, not a wait for the daemons
    return samples, time.monotonic() - started


def _drain(conn: Any, expected: int, timeout: float) -> tuple[list[Any], int]:
    """Poll until the daemons stored ``expected`` fills (or time out); the trades and the
    ledger's count."""
    from sqlalchemy import text  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if conn.execute(text("SELECT count(*) FROM trades")).scalar_one() >= expected:
            break
        time.sleep(0.2)  # polling the journal until the daemons caught up
    rows = conn.execute(text("SELECT execution_id, imported_at FROM trades")).all()
    ledger = conn.execute(text("SELECT count(*) FROM imported_executions")).scalar_one()
    return list(rows), int(ledger)


def _run_fleet(server: str, size: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from sqlalchemy import create_engine, text  # noqa: PLC0415
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    name = f"fleet_{secrets.token_hex(6)}"
    admin = create_engine(make_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    env = clean_env({"CSV_IMPORT_DATABASE_URL": url, "HOME": str(work)})
    subprocess.run([*CLI, "db", "upgrade"], env=env, check=True, capture_output=True)
    watch = create_engine(url, isolation_level="AUTOCOMMIT", pool_size=1)
    daemons: list[DaemonProcess] = []
    samples: list[tuple[int, int]] = []
    try:
        with watch.connect() as conn:
            deadlocks_before = _deadlocks(conn, name)
            lsn_before = _wal_lsn(conn)
        folders = []
        for i in range(size):
            folder = work / f"{name}-trader{i}"
            folder.mkdir()
            folders.append(folder)
            d = DaemonProcess(
                folder,
                url,
                "--instance-name",
                f"pc{i}",
                settle=args.settle,
                log_dir=work,
            )
            daemons.append(d.start())
        for d in daemons:
            d.wait_ready(timeout=120)
        writers = [
            Writer(folder, f"Trader{i}", args.seconds, (args.gap_ms[0], args.gap_ms[1]))
            for i, folder in enumerate(folders)
        ]
        with watch.connect() as conn:
            cpu_before = _server_cpu_s(conn, name)  # the daemons' backends, now connected
            samples, window = _sample_while_writing(conn, name, writers)
            written = {eid: at for w in writers for eid, at in w.written.items()}
            rows, ledger = _drain(conn, len(written), args.drain_timeout)
            deadlocks = _deadlocks(conn, name) - deadlocks_before
            server_cpu = _server_cpu_s(conn, name) - cpu_before
            wal = _wal_bytes_since(conn, lsn_before)
        for d in daemons:
            d.stop_cleanly()
        verified = [
            subprocess.run(
                [*CLI, "verify", str(f)], env=env, capture_output=True, check=False
            ).returncode
            for f in folders
        ]
        latencies = [
            (imported - written[eid]).total_seconds() * 1000
            for eid, imported in rows
            if eid in written
        ]
        in_window = sum(1 for eid, imp in rows if eid in written)
        return {
            "daemons": size,
            "fills_written": len(written),
            "fills_stored": len(rows),
            "ledger_rows": ledger,
            "exactly_once": len(rows) == len(written) == ledger == in_window,
            "fills_per_s": len(written) / window,
            "latency_ms_median": statistics.median(latencies) if latencies else None,
            "latency_ms_p95": _percentile(latencies, 95) if latencies else None,
            "latency_ms_p99": _percentile(latencies, 99) if latencies else None,
            "latency_ms_max": max(latencies) if latencies else None,
            "connections_peak": max(c for c, _ in samples),
            "connections_per_daemon": (max(c for c, _ in samples) - 1) / size,
            "lock_waits_peak": max(w for _, w in samples),
            "samples_with_lock_waits": sum(1 for _, w in samples if w),
            "samples": len(samples),
            "deadlocks": deadlocks,
            # The whole cluster's WAL: other work on the same server counts too.
            "wal_bytes_per_fill": wal / max(1, len(written)),
            "server_cpu_ms_per_fill": server_cpu * 1000 / max(1, len(written)),
            "verify_exit_codes": sorted(set(verified)),
            "load_average": os.getloadavg()[0],
        }
    finally:
        for d in daemons:
            if d.returncode is None:
                d.stop()
        watch.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--daemons", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--seconds", type=float, default=20.0, help="append window (default 20)")
    parser.add_argument("--gap-ms", type=int, nargs=2, default=[100, 500], metavar=("MIN", "MAX"))
    parser.add_argument("--settle", type=float, default=0.3, help="daemon --settle (default 0.3)")
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument("--postgres", help=f"server URL (default: ${POSTGRES_ENV})")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    server = args.postgres or os.environ.get(POSTGRES_ENV)
    if not server:
        raise SystemExit(f"bench_fleet: give --postgres or set {POSTGRES_ENV}")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        for size in args.daemons:
            result = _run_fleet(server, size, args, Path(tmp))
            results.append(result)
            print(json.dumps(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
