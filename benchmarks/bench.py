"""The benchmark of issue 6: ``./run bench [ARGS]`` (or ``python benchmarks/bench.py``).

It generates realistic NinjaTrader 8 executions (the real grid-export column layout, CRLF,
trailing comma, random 32-hex IDs, several accounts and instruments, en-US times over many
days) and measures, side by side with references in the same run:

  (a) cold import of N rows through the CLI (a subprocess) into an empty SQLite file;
  (b) a naive reference: ``csv`` + ``sqlite3.executemany`` with INSERT OR IGNORE into the
      same tables and indexes (created by the project's migrations), commit every 10,000;
  (c) the ``sqlite3`` shell's ``.import`` into one 15-column table with a unique ID index;
  (d) re-import of the whole file with ``--reread`` (every row a duplicate);
  (e) the unchanged file seen again: process time and in-process ``import_file`` time;
  (f) one row appended to the N-row file: in-process and process time;
  (g) append-to-commit latency under the running daemon (200 appends spread over time);
  (h) peak resident memory of the (a) process, and of a cold import of N/4 rows;
  (i) cold import into PostgreSQL when a server URL is given.

Prints a table (figure, value, target, ok?) and writes JSON. Machines are noisy: compare
the ratios, which are measured in the same run, rather than absolute figures across runs.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import platform
import random
import secrets
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import zoneinfo
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

# The row generator, the notify listener and the clean environment are the tests' own:
# one copy of each, in tests/support/.
REPO = Path(__file__).resolve().parent.parent
if str(REPO / "tests") not in sys.path:
    sys.path.insert(0, str(REPO / "tests"))

from support.notify import NotifyListener  # noqa: E402
from support.postgres import POSTGRES_ENV  # noqa: E402
from support.processes import CLI, ChildRun, clean_env, run_child  # noqa: E402
from support.rows import (  # noqa: E402
    ExecutionGenerator,
    append_line,
    execution_id,
    write_export,
)

FIGURES: dict[str, str] = {
    "a": "a_cold_import_sqlite",
    "b": "b_naive_reference",
    "c": "c_sqlite_shell_import",
    "d": "d_reread_all_duplicates",
    "e": "e_unchanged_file",
    "f": "f_append_one_row",
    "g": "g_daemon_latency",
    "h": "h_peak_memory",
    "i": "i_cold_import_postgres",
}

REFERENCE_COMMIT_EVERY = 10_000
MIB = 1024 * 1024
SIGTERM_WAIT_S = 20.0


# -- helpers -------------------------------------------------------------------------------


def cli(*args: str) -> list[str]:
    return [*CLI, *args]


def parse_summary(stdout: str) -> dict[str, Any]:
    """The counters of the CLI's one summary line per file."""
    out: dict[str, Any] = {}
    for line in stdout.strip().splitlines()[-1:]:
        head, _, rest = line.partition(": ")
        out["file"] = head
        words = rest.split(" -- ")[0].split()
        if words:
            out["status"] = words[0]
        for word in words[1:]:
            key, _, value = word.partition("=")
            if value.isdigit():
                out[key] = int(value)
    return out


def count_rows(db: Path, table: str) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
    return int(row[0])


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def sync_disks() -> None:
    """Flush dirty pages so one part's writeback does not land in the next part's time."""
    with contextlib.suppress(OSError):
        os.sync()


def db_bytes(db: Path) -> int:
    """The database file plus its WAL, as they stand."""
    return sum(Path(f"{db}{s}").stat().st_size for s in ("", "-wal") if Path(f"{db}{s}").exists())


def unlink_db(db: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{db}{suffix}").unlink()


class CliFailed(RuntimeError):
    """The CLI exited non-zero or imported something else than expected."""


def expect(run: ChildRun, what: str, **counts: int) -> dict[str, Any]:
    summary = parse_summary(run.stdout)
    if run.returncode != 0:
        raise CliFailed(f"{what}: exit {run.returncode}: {run.stderr_tail or run.stdout}")
    wrong = {k: (summary.get(k), v) for k, v in counts.items() if summary.get(k) != v}
    if wrong:
        raise CliFailed(f"{what}: expected {counts}, got {summary}")
    return summary


# -- the reference implementations ---------------------------------------------------------


def naive_reference(path: Path, db: Path, tz: zoneinfo.ZoneInfo) -> int:
    """csv + sqlite3.executemany with INSERT OR IGNORE, commit every 10,000 rows.

    The tables and indexes are the project's (made by its migrations beforehand); the
    journal settings are the daemon's (WAL, synchronous=NORMAL) so that only the code
    differs; the page cache is SQLite's default, as a naive program would leave it.
    """
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    ledger_sql = (
        "INSERT OR IGNORE INTO imported_executions "
        "(execution_id, csv_filename, import_timestamp, account, instrument) "
        "VALUES (?, ?, ?, ?, ?)"
    )
    trades_sql = (
        "INSERT OR IGNORE INTO trades (execution_id, account, instrument, action, "
        "entry_exit, quantity, price, executed_at, commission, order_id, order_name, "
        "connection, position_after, source_file, source_line, imported_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    name, source = path.name, str(path)
    rows = 0
    ledger: list[tuple[Any, ...]] = []
    trades: list[tuple[Any, ...]] = []

    def flush() -> None:
        conn.executemany(ledger_sql, ledger)
        conn.executemany(trades_sql, trades)
        conn.commit()
        ledger.clear()
        trades.clear()

    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        next(reader)
        now = str(datetime.now(UTC).replace(tzinfo=None))
        for number, row in enumerate(reader, start=2):
            if len(row) < 14:
                continue
            executed = (
                datetime.strptime(row[4], "%m/%d/%Y %I:%M:%S %p")
                .replace(tzinfo=tz)
                .astimezone(UTC)
                .replace(tzinfo=None)
            )
            commission = str(Decimal(row[10].replace("$", "").replace(",", "")))
            ledger.append((row[5], name, now, row[12], row[0]))
            trades.append(
                (
                    row[5],
                    row[12],
                    row[0],
                    row[1],
                    row[6],
                    int(row[2]),
                    str(Decimal(row[3])),
                    str(executed),
                    commission,
                    row[8],
                    row[9],
                    row[13],
                    row[7],
                    source,
                    number,
                    now,
                )
            )
            rows += 1
            if len(ledger) >= REFERENCE_COMMIT_EVERY:
                flush()
                now = str(datetime.now(UTC).replace(tzinfo=None))
        if ledger:
            flush()
    conn.close()
    return rows


def shell_import_script(path: Path) -> str:
    columns = ", ".join(f"c{k} TEXT" for k in range(1, 16))
    return (
        f"CREATE TABLE t ({columns});\n"
        "CREATE UNIQUE INDEX t_id ON t (c6);\n"
        f".import --csv --skip 1 '{path}' t\n"
    )


# -- the benchmark -------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.rows: int = args.rows
        self.workdir = workdir
        self.tzname: str = args.source_timezone
        self.tz = zoneinfo.ZoneInfo(self.tzname)
        self.skip: set[str] = args.skip
        self.figures: dict[str, dict[str, Any]] = {}
        self.csv = workdir / "NinjaTrader_Executions_bench.csv"
        self.db_a = workdir / "a.sqlite3"
        self.gen = ExecutionGenerator(args.seed)
        self.rss_a_kib: int | None = None
        self.rows_initial: int = args.rows

    # plumbing

    def figure(self, letter: str, fn: Callable[[], dict[str, Any]]) -> None:
        key = FIGURES[letter]
        if letter in self.skip:
            self.figures[key] = {"status": "skipped"}
            return
        print(f"bench: ({letter}) {key} ...", file=sys.stderr, flush=True)
        sync_disks()
        try:
            record = {"status": "measured", **fn()}
        except Unavailable as exc:
            record = {"status": "unavailable", "error": str(exc)}
        except Exception as exc:  # one broken part must not hide the others' figures
            record = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
        self.figures[key] = record
        if record["status"] != "measured":
            print(
                f"bench: ({letter}) {record['status']}: {record.get('error', '')}",
                file=sys.stderr,
                flush=True,
            )

    def import_cli(
        self,
        path: Path,
        db_url: str | None,
        label: str,
        *extra: str,
        env: dict[str, str] | None = None,
    ) -> ChildRun:
        args = [
            "import",
            str(path),
            "--source-timezone",
            self.tzname,
            "--log-format",
            "json",
            *extra,
        ]
        if db_url is not None:
            args += ["--database", db_url]
        return run_child(cli(*args), self.workdir, label, env=env)

    def settings(self, db: Path) -> Any:
        from csv_import_daemon.config.settings import load_settings  # noqa: PLC0415

        return load_settings(
            {"database_url": f"sqlite:///{db}", "source_timezone": self.tzname}, environ={}
        )

    # the parts

    def generate(self) -> dict[str, Any]:
        started = time.perf_counter()
        size = write_export(self.csv, self.gen, self.rows)
        return {
            "rows": self.rows,
            "bytes": size,
            "seconds": time.perf_counter() - started,
            "path": str(self.csv),
        }

    def cold_import(self) -> dict[str, Any]:
        unlink_db(self.db_a)
        run = self.import_cli(self.csv, f"sqlite:///{self.db_a}", "a_cold")
        summary = expect(run, "cold import", inserted=self.rows, duplicates=0, rejected=0)
        self.rss_a_kib = run.maxrss_kib
        stored = count_rows(self.db_a, "trades"), count_rows(self.db_a, "imported_executions")
        if stored != (self.rows, self.rows):
            raise CliFailed(f"cold import stored {stored} trades/ledger rows, not {self.rows}")
        return {
            "rows": self.rows,
            "seconds": run.seconds,
            "rows_per_s": self.rows / run.seconds,
            "cpu_seconds": run.cpu_seconds,
            "maxrss_mib": run.maxrss_kib / 1024,
            "summary": summary,
            "db_bytes": db_bytes(self.db_a),
        }

    def reference(self) -> dict[str, Any]:
        db = self.workdir / "b_reference.sqlite3"
        unlink_db(db)
        run = run_child(
            cli("db", "upgrade", "--database", f"sqlite:///{db}", "--log-level", "warning"),
            self.workdir,
            "b_upgrade",
        )
        if run.returncode != 0:
            raise CliFailed(f"db upgrade: exit {run.returncode}: {run.stderr_tail}")
        sync_disks()
        started, cpu_started = time.perf_counter(), time.process_time()
        rows = naive_reference(self.csv, db, self.tz)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        stored = count_rows(db, "trades"), count_rows(db, "imported_executions")
        if rows != self.rows or stored != (rows, rows):
            raise CliFailed(f"reference read {rows} rows and stored {stored}")
        record: dict[str, Any] = {
            "rows": rows,
            "seconds": seconds,
            "rows_per_s": rows / seconds,
            "cpu_seconds": cpu,
            "db_bytes": db_bytes(db),
            "pragmas": "journal_mode=WAL synchronous=NORMAL, default cache",
        }
        unlink_db(db)
        return record

    def shell_import(self) -> dict[str, Any]:
        shell = shutil.which("sqlite3")
        if shell is None:
            raise Unavailable("no sqlite3 command-line shell on PATH")
        db = self.workdir / "c_shell.sqlite3"
        unlink_db(db)
        run = run_child(
            [shell, str(db)], self.workdir, "c_shell", stdin=shell_import_script(self.csv)
        )
        if run.returncode != 0 or run.stderr_tail:
            raise CliFailed(f"sqlite3 .import: exit {run.returncode}: {run.stderr_tail}")
        stored = count_rows(db, "t")
        if stored != self.rows:
            raise CliFailed(f"sqlite3 .import stored {stored} rows, not {self.rows}")
        version = subprocess.run(
            [shell, "--version"], capture_output=True, text=True, check=False
        ).stdout.split()[:1]
        record = {
            "rows": stored,
            "seconds": run.seconds,
            "rows_per_s": stored / run.seconds,
            "cpu_seconds": run.cpu_seconds,
            "sqlite3_shell": version[0] if version else "?",
            "db_bytes": db_bytes(db),
        }
        unlink_db(db)
        return record

    def reread(self) -> dict[str, Any]:
        run = self.import_cli(self.csv, f"sqlite:///{self.db_a}", "d_reread", "--reread")
        summary = expect(run, "reread", inserted=0, duplicates=self.rows, rejected=0, conflicts=0)
        return {
            "rows": self.rows,
            "seconds": run.seconds,
            "rows_per_s": self.rows / run.seconds,
            "cpu_seconds": run.cpu_seconds,
            "maxrss_mib": run.maxrss_kib / 1024,
            "summary": summary,
        }

    def unchanged(self) -> dict[str, Any]:
        process_s: list[float] = []
        for k in range(self.args.process_repeat):
            run = self.import_cli(self.csv, f"sqlite:///{self.db_a}", f"e_unchanged_{k}")
            expect(run, "unchanged (process)", inserted=0, duplicates=0)
            if parse_summary(run.stdout).get("status") != "unchanged":
                raise CliFailed(f"unchanged (process): {run.stdout.strip()}")
            process_s.append(run.seconds)
        in_process = self.in_process(lambda: None, "unchanged", inserted=0)
        return {
            "in_process_ms": statistics.median(in_process["ms"]),
            "in_process_first_ms": in_process["first_ms"],
            "in_process_runs_ms": in_process["ms"],
            "process_ms": statistics.median(process_s) * 1000,
            "process_runs_ms": [s * 1000 for s in process_s],
        }

    def append_one(self) -> dict[str, Any]:
        appended = 0

        def add() -> None:
            nonlocal appended
            with open(self.csv, "ab") as f:
                append_line(f, next(self.gen.lines(1)))
            appended += 1

        in_process = self.in_process(add, "imported", inserted=1)
        process_s: list[float] = []
        for k in range(self.args.process_repeat):
            add()
            run = self.import_cli(self.csv, f"sqlite:///{self.db_a}", f"f_append_{k}")
            expect(run, "append one (process)", inserted=1, duplicates=0, rejected=0)
            process_s.append(run.seconds)
        self.rows += appended
        return {
            "in_process_ms": statistics.median(in_process["ms"]),
            "in_process_first_ms": in_process["first_ms"],
            "in_process_runs_ms": in_process["ms"],
            "process_ms": statistics.median(process_s) * 1000,
            "process_runs_ms": [s * 1000 for s in process_s],
            "file_rows_after": self.rows,
        }

    def in_process(
        self, before_each: Callable[[], None], status: str, **counts: int
    ) -> dict[str, Any]:
        """Time ImportService.import_file in this process: one engine, as the daemon holds."""
        from csv_import_daemon.db.engine import make_engine  # noqa: PLC0415
        from csv_import_daemon.importing.service import ImportService  # noqa: PLC0415
        from csv_import_daemon.logs import configure_logging  # noqa: PLC0415

        with open(self.workdir / "in_process.log", "a") as log:
            configure_logging("json", "warning", stream=log)
            settings = self.settings(self.db_a)
            engine = make_engine(settings)
            try:
                service = ImportService(engine, settings)
                times: list[float] = []
                for _ in range(self.args.repeat + 1):
                    before_each()
                    started = time.perf_counter()
                    result = service.import_file(self.csv)
                    times.append((time.perf_counter() - started) * 1000)
                    got = result.as_dict()
                    if result.status != status or any(got[k] != v for k, v in counts.items()):
                        raise CliFailed(f"in-process import: expected {status} {counts}, got {got}")
            finally:
                engine.dispose()
        # The first call opens the engine's connection; the daemon keeps one open.
        return {"first_ms": times[0], "ms": times[1:]}

    def memory(self) -> dict[str, Any]:
        if self.rss_a_kib is None:
            raise Unavailable("(a) did not run, so its peak memory is unknown")
        quarter_rows = max(1, self.rows_initial // 4)
        path = self.workdir / "NinjaTrader_Executions_quarter.csv"
        write_export(path, ExecutionGenerator(self.args.seed), quarter_rows)
        db = self.workdir / "h_quarter.sqlite3"
        unlink_db(db)
        run = self.import_cli(path, f"sqlite:///{db}", "h_quarter")
        expect(run, "quarter import", inserted=quarter_rows)
        unlink_db(db)
        path.unlink()
        full, quarter = self.rss_a_kib / 1024, run.maxrss_kib / 1024
        return {
            "rows": self.rows_initial,
            "maxrss_mib": full,
            "quarter_rows": quarter_rows,
            "quarter_maxrss_mib": quarter,
            "growth": full / quarter,
            "flat_means": "maxrss(N) <= 1.25 x maxrss(N/4)",
        }

    def daemon_latency(self) -> dict[str, Any]:
        return DaemonLatency(self).run()

    def postgres(self) -> dict[str, Any]:
        url = self.args.postgres or os.environ.get(POSTGRES_ENV)
        if not url:
            raise Unavailable(f"no PostgreSQL server given (--postgres or {POSTGRES_ENV})")
        from sqlalchemy import create_engine, text  # noqa: PLC0415
        from sqlalchemy.engine import make_url  # noqa: PLC0415

        server = make_url(url)
        if server.drivername in ("postgresql", "postgres"):
            server = server.set(drivername="postgresql+psycopg")
        name = f"bench_{secrets.token_hex(6)}"
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                target = server.set(database=name)
                # The URL travels in the environment: a password stays out of `ps`.
                env = clean_env(
                    {"CSV_IMPORT_DATABASE_URL": target.render_as_string(hide_password=False)}
                )
                run = self.import_cli(self.csv, None, "i_postgres", env=env)
                summary = expect(run, "postgres cold import", inserted=self.rows, rejected=0)
                check = create_engine(target)
                try:
                    with check.connect() as conn:
                        stored = conn.execute(text("SELECT count(*) FROM trades")).scalar_one()
                finally:
                    check.dispose()
                if stored != self.rows:
                    raise CliFailed(f"postgres import stored {stored} rows, not {self.rows}")
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()
        return {
            "rows": self.rows,
            "seconds": run.seconds,
            "rows_per_s": self.rows / run.seconds,
            "maxrss_mib": run.maxrss_kib / 1024,
            "summary": summary,
            "server": server.render_as_string(hide_password=True),
        }

    # the whole run

    def run(self) -> dict[str, Any]:
        started = time.perf_counter()
        print(
            f"bench: generating {self.rows:,} executions in {self.csv}", file=sys.stderr, flush=True
        )
        data = self.generate()
        self.rows_initial = self.rows
        needs_a = any(x not in self.skip for x in "adefh")
        if "a" in self.skip and needs_a:
            # d, e, f and h start from the database (a) makes: make it, untimed.
            self.skip.discard("a")
            self.figure("a", self.cold_import)
            self.figures[FIGURES["a"]] = {
                "status": "skipped",
                "setup": self.figures[FIGURES["a"]]["status"],
            }
            self.skip.add("a")
        else:
            self.figure("a", self.cold_import)
        self.figure("b", self.reference)
        self.figure("c", self.shell_import)
        a_ok = self.db_a.exists() and self.rss_a_kib is not None
        for letter, fn in (("d", self.reread), ("e", self.unchanged), ("f", self.append_one)):
            self.figure(letter, fn if a_ok else _needs_a)
        self.figure("h", self.memory)
        self.figure("g", self.daemon_latency)
        self.figure("i", self.postgres)
        unlink_db(self.db_a)
        return {
            "meta": meta(self.args, data, self.tzname, time.perf_counter() - started),
            "figures": {FIGURES[k]: self.figures[FIGURES[k]] for k in FIGURES},
            "checks": checks(self.figures),
        }


class Unavailable(RuntimeError):
    """A part cannot run here (no daemon yet, no server, no shell); recorded, not fatal."""


def _needs_a() -> dict[str, Any]:
    raise Unavailable("needs the database of (a), which failed")


class DaemonLatency:
    """(g): the daemon watching a folder; appends at random gaps; time until committed."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.dir = bench.workdir / "g_watch"
        self.db = bench.workdir / "g_daemon.sqlite3"
        self.gen = ExecutionGenerator(bench.args.seed + 1)
        self.rng = random.Random(bench.args.seed + 2)

    def run(self) -> dict[str, Any]:
        args = self.bench.args
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir()
        unlink_db(self.db)
        path = self.dir / "NinjaTrader_Executions_live.csv"
        initial = args.daemon_initial_rows
        write_export(path, self.gen, initial)
        notify = NotifyListener()
        err_path = self.bench.workdir / "g_daemon.stderr"
        argv = cli(
            "run",
            "--watch",
            str(self.dir),
            "--database",
            f"sqlite:///{self.db}",
            "--settle",
            str(args.settle),
            "--source-timezone",
            self.bench.tzname,
            "--log-format",
            "json",
        )
        try:
            with open(err_path, "wb") as err:
                proc = subprocess.Popen(
                    argv,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    stdin=subprocess.DEVNULL,
                    env=clean_env({"NOTIFY_SOCKET": notify.address}),
                )
            try:
                ready_s = self._wait_ready(proc, notify, err_path, args.daemon_timeout)
                initial_s = self._wait_rows(proc, initial, args.daemon_timeout, err_path)
                latencies, missing = self._appends(path, args.appends, args.append_deadline)
            finally:
                stopped = self._stop(proc)
        finally:
            notify.close()
        seen = list(latencies.values())
        record: dict[str, Any] = {
            "appends": args.appends,
            "seen": len(seen),
            "missing": missing,
            "median_ms": statistics.median(seen) if seen else None,
            "p95_ms": percentile(seen, 95) if seen else None,
            "max_ms": max(seen) if seen else None,
            "min_ms": min(seen) if seen else None,
            "gaps_ms": "uniform 20-100, appends independent of the daemon's progress",
            "poll_ms": 2,
            "settle_s": args.settle,
            "ready_s": ready_s,
            "initial_rows": initial,
            "initial_import_s": initial_s,
            **stopped,
            "notify_messages": len(notify.messages),
        }
        if missing:
            record["error"] = f"{missing} of {args.appends} appends not committed in time"
        return record

    def _wait_ready(
        self, proc: subprocess.Popen[bytes], notify: NotifyListener, err_path: Path, timeout: float
    ) -> float:
        started = time.perf_counter()
        deadline = started + timeout
        while (ready_at := notify.arrival("READY", "1")) is None:
            code = proc.poll()
            if code is not None:
                tail = err_path.read_text(errors="replace").strip().splitlines()[-3:]
                raise Unavailable(
                    f"`csv-import-daemon run` exited {code} before READY=1: " + " | ".join(tail)
                )
            if time.perf_counter() > deadline:
                raise Unavailable(f"no READY=1 from the daemon within {timeout:g} s")
            time.sleep(0.02)  # a poll with a deadline; the arrival time itself is exact
        return ready_at - started

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 1000")
        return conn

    def _wait_rows(
        self, proc: subprocess.Popen[bytes], rows: int, timeout: float, err_path: Path
    ) -> float:
        started = time.perf_counter()
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if proc.poll() is not None:
                tail = err_path.read_text(errors="replace").strip().splitlines()[-3:]
                raise Unavailable(f"daemon exited {proc.returncode}: " + " | ".join(tail))
            with contextlib.suppress(sqlite3.Error), contextlib.closing(self._connect()) as conn:
                have = conn.execute("SELECT count(*) FROM imported_executions").fetchone()[0]
                if have >= rows:
                    return time.perf_counter() - started
            time.sleep(0.01)
        raise CliFailed(f"the daemon did not import the initial {rows} rows in {timeout:g} s")

    def _appends(self, path: Path, count: int, deadline_s: float) -> tuple[dict[str, float], int]:
        """Append ``count`` lines at random 20-100 ms gaps; poll the ledger every 2 ms."""
        written: dict[str, float] = {}
        latencies: dict[str, float] = {}
        conn = self._connect()
        last_id = conn.execute("SELECT coalesce(max(id), 0) FROM imported_executions").fetchone()[0]
        pending = list(self.gen.lines(count))
        next_at = time.perf_counter()
        final_deadline: float | None = None
        try:
            with open(path, "ab") as f:
                while True:
                    now = time.perf_counter()
                    if pending and now >= next_at:
                        line = pending.pop(0)
                        written[execution_id(line)] = time.perf_counter()
                        append_line(f, line)
                        next_at = now + self.rng.uniform(0.020, 0.100)
                        if not pending:
                            final_deadline = time.perf_counter() + deadline_s
                    try:
                        rows = conn.execute(
                            "SELECT id, execution_id FROM imported_executions WHERE id > ?",
                            (last_id,),
                        ).fetchall()
                    except sqlite3.OperationalError:
                        rows = []
                    seen_at = time.perf_counter()
                    for row_id, exec_id in rows:
                        last_id = max(last_id, row_id)
                        if exec_id in written and exec_id not in latencies:
                            latencies[exec_id] = (seen_at - written[exec_id]) * 1000
                    if len(latencies) == count:
                        break
                    if final_deadline is not None and seen_at > final_deadline:
                        break
                    # Per-append deadline: give up on the run if one line is stuck too long.
                    stuck = [t for k, t in written.items() if k not in latencies]
                    if stuck and seen_at - min(stuck) > deadline_s:
                        break
                    time.sleep(0.002)
        finally:
            conn.close()
        return latencies, count - len(latencies)

    def _stop(self, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
        """SIGTERM, then wait; a daemon that does not exit in time is killed and says so."""
        if proc.poll() is not None:
            return {"shutdown": f"had already exited {proc.returncode}"}
        started = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=SIGTERM_WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return {"shutdown": f"no exit within {SIGTERM_WAIT_S:g} s of SIGTERM; killed"}
        return {"shutdown": f"exit {code}", "shutdown_s": time.perf_counter() - started}


# -- reporting -----------------------------------------------------------------------------


def _value(fig: dict[str, Any], key: str) -> float | None:
    value = fig.get(key) if fig.get("status") == "measured" else None
    return float(value) if isinstance(value, int | float) else None


def checks(figures: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per target: figure, value, unit, target, ok (None when not measured)."""
    f = {k: figures.get(v, {}) for k, v in FIGURES.items()}
    a = _value(f["a"], "rows_per_s")
    b = _value(f["b"], "rows_per_s")
    c = _value(f["c"], "rows_per_s")
    rows: list[dict[str, Any]] = []

    def add(
        name: str, value: float | None, unit: str, target: str, ok: Callable[[float], bool] | None
    ) -> None:
        letters = [ch for ch in name.split(" ", maxsplit=1)[0] if ch in FIGURES]
        missing = [f[x].get("status", "-") for x in letters if f[x].get("status") != "measured"]
        rows.append(
            {
                "figure": name,
                "value": value,
                "unit": unit,
                "target": target,
                "ok": None if value is None or ok is None else ok(value),
                "status": missing[0] if missing else "measured",
            }
        )

    add("(a) cold import, SQLite", a, "rows/s", "", None)
    add("(b) naive reference", b, "rows/s", "", None)
    add("(a)/(b)", a / b if a and b else None, "x", ">= 1.5", lambda v: v >= 1.5)
    add("(c) sqlite3 shell .import", c, "rows/s", "", None)
    add("(a)/(c)", a / c if a and c else None, "x", ">= 0.5", lambda v: v >= 0.5)
    # The same ratios on CPU seconds (user + system): a busy machine moves them less.
    a_cpu, b_cpu, c_cpu = (_value(f[x], "cpu_seconds") for x in "abc")
    add("(a)/(b) on CPU time", b_cpu / a_cpu if a_cpu and b_cpu else None, "x", "", None)
    add("(a)/(c) on CPU time", c_cpu / a_cpu if a_cpu and c_cpu else None, "x", "", None)
    add(
        "(d) --reread, all duplicates",
        _value(f["d"], "rows_per_s"),
        "rows/s",
        ">= 150,000",
        lambda v: v >= 150_000,
    )
    add(
        "(e) unchanged file, in-process",
        _value(f["e"], "in_process_ms"),
        "ms",
        "<= 50",
        lambda v: v <= 50,
    )
    add("(e) unchanged file, process", _value(f["e"], "process_ms"), "ms", "", None)
    add(
        "(f) one row appended, in-process",
        _value(f["f"], "in_process_ms"),
        "ms",
        "<= 20",
        lambda v: v <= 20,
    )
    add("(f) one row appended, process", _value(f["f"], "process_ms"), "ms", "", None)
    g_missing = bool(f["g"].get("missing"))
    add(
        "(g) daemon latency, median",
        _value(f["g"], "median_ms"),
        "ms",
        "<= 150",
        lambda v: v <= 150 and not g_missing,
    )
    add(
        "(g) daemon latency, p95",
        _value(f["g"], "p95_ms"),
        "ms",
        "<= 500",
        lambda v: v <= 500 and not g_missing,
    )
    add("(h) peak RSS at N", _value(f["h"], "maxrss_mib"), "MiB", "<= 150", lambda v: v <= 150)
    add(
        "(h) peak RSS N / N/4", _value(f["h"], "growth"), "x", "flat (<= 1.25)", lambda v: v <= 1.25
    )
    add("(i) cold import, PostgreSQL", _value(f["i"], "rows_per_s"), "rows/s", "", None)
    return rows


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "rows/s":
        return f"{value:,.0f} rows/s"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:,.1f} {unit}"


def render_table(report: dict[str, Any]) -> str:
    figures = report["figures"]
    lines = [f"{'figure':36} {'value':>18}  {'target':>15}  ok?", "-" * 78]
    for row in report["checks"]:
        value = _fmt(row["value"], row["unit"])
        if row["value"] is None:
            value = row["status"] if row["status"] != "measured" else "-"
        ok = "-" if row["ok"] is None else ("yes" if row["ok"] else "NO")
        lines.append(f"{row['figure']:36} {value:>18}  {row['target']:>15}  {ok}")
    meta_ = report["meta"]
    lines.append("-" * 78)
    lines.append(
        f"N = {meta_['rows']:,} rows ({meta_['file_bytes'] / MIB:,.0f} MiB), "
        f"{meta_['cpus']} CPUs, SQLite {meta_['sqlite_library']}, "
        f"total {meta_['total_seconds']:.0f} s"
    )
    for key, fig in figures.items():
        if fig.get("status") not in ("measured", "skipped") or fig.get("error"):
            lines.append(f"{key}: {fig.get('status')}: {fig.get('error', '')}")
    shutdown = figures[FIGURES["g"]].get("shutdown", "")
    if shutdown and not shutdown.startswith("exit 0"):
        lines.append(f"{FIGURES['g']}: daemon shutdown: {shutdown}")
    return "\n".join(lines)


def meta(
    args: argparse.Namespace, data: dict[str, Any], tzname: str, total: float
) -> dict[str, Any]:
    from csv_import_daemon import __version__  # noqa: PLC0415

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).parent,
    ).stdout.strip()
    # An editable install runs the working tree: say whether it differed from the commit.
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).parent,
    ).stdout.strip()
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "rows": args.rows,
        "seed": args.seed,
        "file_bytes": data["bytes"],
        "generate_seconds": data["seconds"],
        "source_timezone": tzname,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "version": __version__,
        "git_commit": commit or None,
        "git_dirty": bool(dirty) if commit else None,
        "python": platform.python_version(),
        "sqlite_library": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "skipped": sorted(args.skip),
        "total_seconds": total,
    }


# -- command line --------------------------------------------------------------------------


def _skip_list(values: list[str]) -> set[str]:
    letters = {part.strip().lower().strip("()") for v in values for part in v.split(",")}
    letters.discard("")
    unknown = letters - set(FIGURES)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown figures {sorted(unknown)}; use a-i")
    return letters


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="./run bench",
        description=__doc__.split("\n")[0] if __doc__ else None,
    )
    p.add_argument("--rows", type=int, default=1_000_000, help="executions N (1,000,000)")
    p.add_argument(
        "--out", type=Path, help="JSON results (default bench-results/bench-<timestamp>.json)"
    )
    p.add_argument(
        "--postgres", metavar="URL", help=f"PostgreSQL server for (i) (default: ${POSTGRES_ENV})"
    )
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="LETTERS",
        help="figures to skip, e.g. --skip g,i",
    )
    p.add_argument("--seed", type=int, default=20250128)
    p.add_argument("--source-timezone", default="America/New_York")
    p.add_argument("--appends", type=int, default=200, help="appends for (g) (200)")
    p.add_argument("--settle", type=float, default=0.5, help="the daemon's --settle for (g)")
    p.add_argument("--daemon-initial-rows", type=int, default=100)
    p.add_argument(
        "--daemon-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for READY=1 and the initial import",
    )
    p.add_argument(
        "--append-deadline",
        type=float,
        default=10.0,
        help="seconds one append may take before (g) gives up",
    )
    p.add_argument("--repeat", type=int, default=5, help="in-process repetitions for (e), (f)")
    p.add_argument("--process-repeat", type=int, default=3, help="process repetitions for (e), (f)")
    p.add_argument("--workdir", type=Path, help="scratch folder (default: a new temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.skip = _skip_list(args.skip)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if args.rows < 8:
        parser.error("--rows must be at least 8")
    try:
        zoneinfo.ZoneInfo(args.source_timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        parser.error(f"unknown time zone {args.source_timezone!r}")
    out: Path = args.out or Path("bench-results") / (
        f"bench-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    )
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        workdir = args.workdir.resolve()
    else:
        workdir = Path(tempfile.mkdtemp(prefix="csv-import-bench-"))
    try:
        report = Bench(args, workdir).run()
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(render_table(report))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
