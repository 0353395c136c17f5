"""Issue 14's speed figures, side by side in one run: ``python benchmarks/bench_speed.py``.

Every command runs as a subprocess on the same generated file (the grid export's layout:
CRLF, trailing comma, 32-hex IDs, several accounts and instruments, en-US times), rounds
interleaved so a busy machine slows all of them alike:

  sqlite_floor   stdlib ``csv`` + ``sqlite3.executemany`` of INSERT OR IGNORE into the seed's
                 literal ledger DDL (its three ledger indexes) and a trades table with a unique
                 execution_id, the CSV fields inserted as they are read, commit every 10,000
  sqlite_cold    ``python -m csv_import_daemon import FILE`` into an empty SQLite file
  sqlite_dup     the same import of a renamed copy of that file: every row a duplicate
  pg_floor       psycopg ``executemany`` of INSERT ... ON CONFLICT DO NOTHING into the same
                 tables on PostgreSQL, commit every 10,000 rows
  pg_cold        the CLI import into an empty PostgreSQL database
  pg_copy        ceiling: ``COPY`` of the raw fields into the same tables, one transaction

Peak RSS is the child's ``ru_maxrss`` (wait4). Prints min/median per command and the
ratios of the issue's targets (medians of the per-round ratios), writes JSON. Figures on a
shared machine are noisy: compare the ratios, which are measured in the same run.

  python benchmarks/bench_speed.py --rows 300000 1000000 --rounds 3
  python benchmarks/bench_speed.py --rows 50000 --no-postgres
"""

# ruff: noqa: S608 - every statement is built from this file's constants, never from input
from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

HEADER = (
    "Instrument,Action,Quantity,Price,Time,ID,E/X,Position,Order ID,Name,Commission,"
    "Rate,Account,Connection,"
)
TZ = "America/New_York"
COMMIT_EVERY = 10_000
POSTGRES_ENV = "CSV_IMPORT_TEST_POSTGRES_URL"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

# The seed's ledger, literally: a UNIQUE constraint plus the three named indexes.
LEDGER_DDL = {
    "sqlite": """
CREATE TABLE imported_executions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id VARCHAR(255) NOT NULL UNIQUE,
    csv_filename VARCHAR(255) NOT NULL,
    import_timestamp DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    account VARCHAR(50),
    instrument VARCHAR(50)
)""",
    "postgresql": """
CREATE TABLE imported_executions (
    id SERIAL PRIMARY KEY,
    execution_id VARCHAR(255) NOT NULL UNIQUE,
    csv_filename VARCHAR(255) NOT NULL,
    import_timestamp TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    account VARCHAR(50),
    instrument VARCHAR(50)
)""",
}
LEDGER_INDEXES = (
    "CREATE INDEX idx_imported_executions_exec_id ON imported_executions(execution_id)",
    "CREATE INDEX idx_imported_executions_csv_file ON imported_executions(csv_filename)",
    "CREATE INDEX idx_imported_executions_timestamp ON imported_executions(import_timestamp)",
)
TRADES_DDL = """
CREATE TABLE trades (
    id {pk},
    execution_id VARCHAR(255) NOT NULL UNIQUE,
    account VARCHAR(50) NOT NULL, instrument VARCHAR(50) NOT NULL,
    action VARCHAR(20) NOT NULL, entry_exit VARCHAR(10), quantity VARCHAR(20) NOT NULL,
    price VARCHAR(40) NOT NULL, executed_at VARCHAR(40) NOT NULL, commission VARCHAR(40),
    order_id VARCHAR(64), order_name VARCHAR(255), connection VARCHAR(100),
    position_after VARCHAR(20), source_file TEXT NOT NULL, source_line INTEGER NOT NULL,
    imported_at VARCHAR(40) NOT NULL
)"""
TRADES_PK = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgresql": "SERIAL PRIMARY KEY"}
LEDGER_COLS = "execution_id, csv_filename, import_timestamp, account, instrument"
TRADES_COLS = (
    "execution_id, account, instrument, action, entry_exit, quantity, price, executed_at, "
    "commission, order_id, order_name, connection, position_after, source_file, source_line, "
    "imported_at"
)

# -- the file ------------------------------------------------------------------------------

_INSTRUMENTS = (
    ("MNQ", 2_150_000, 25, 52),
    ("MES", 605_000, 25, 62),
    ("NQ", 2_150_000, 25, 214),
    ("ES", 605_000, 25, 214),
    ("M2K", 228_000, 10, 52),
    ("CL", 7_235, 1, 214),
    ("GC", 265_010, 10, 214),
)
_ACCOUNTS = (
    ("Sim101", "ATF NinjaTrader"),
    ("APEX1279810000057", "Apex Trader Funding "),
    ("APEX1279810000058", "Apex Trader Funding "),
    ("TPT48213-07", "Rithmic for NinjaTrader Brokerage"),
    ("MFFUEVSTP123456", "Tradovate"),
    ("Playback101", "Playback"),
)
_NAMES = ("Entry", "Exit", "Stop1", "Target1", "Close", "P||4524", "Signal1")


def position(pos: int) -> str:
    return "-" if pos == 0 else f"{abs(pos)} {'L' if pos > 0 else 'S'}"


def generate(path: Path, rows: int, seed: int) -> int:
    """Write a header and ``rows`` executions (CRLF, trailing comma); return the size."""
    rng = random.Random(seed)
    day, second = date(2024, 1, 2), 8 * 3600
    prices = [p for _, p, _, _ in _INSTRUMENTS]
    positions: dict[tuple[int, int], int] = {}
    out: list[str] = [HEADER]
    with open(path, "wb") as f:
        for _ in range(rows):
            second += rng.randint(0, 30)
            if second >= 17 * 3600:
                second, day = 8 * 3600 + rng.randint(0, 600), day + timedelta(days=1)
                while day.weekday() >= 5:
                    day += timedelta(days=1)
            a, i = rng.randrange(len(_ACCOUNTS)), rng.randrange(len(_INSTRUMENTS))
            root, _, tick, fee = _INSTRUMENTS[i]
            prices[i] = max(tick * 40, prices[i] + tick * rng.randint(-8, 8))
            pos = positions.get((a, i), 0)
            side = (1 if rng.random() < 0.5 else -1) if pos == 0 else (-1 if pos > 0 else 1)
            qty = rng.randint(1, 3) if pos == 0 else abs(pos)
            pos += side * qty
            positions[(a, i)] = pos
            h, rest = divmod(second, 3600)
            clock = f"{h % 12 or 12}:{rest // 60:02d}:{rest % 60:02d} {'AM' if h < 12 else 'PM'}"
            contract = (
                f"{root} {('MAR', 'JUN', 'SEP', 'DEC')[(day.month - 1) // 3]}{day.year % 100}"
            )
            account, connection = _ACCOUNTS[a]
            cents, commission = prices[i], fee * qty
            out.append(
                f"{contract},{'Buy' if side > 0 else 'Sell'},{qty},"
                f"{cents // 100}.{cents % 100:02d},"
                f"{day.month}/{day.day}/{day.year} {clock},{rng.getrandbits(128):032x},"
                f"{'Exit' if pos == 0 else 'Entry'},"
                f"{position(pos)},"
                f"{rng.getrandbits(128):032x},{rng.choice(_NAMES)},"
                f"${commission // 100}.{commission % 100:02d},1,{account},{connection},"
            )
            if len(out) >= 20_000:
                f.write(("\r\n".join(out) + "\r\n").encode())
                out = []
        if out:
            f.write(("\r\n".join(out) + "\r\n").encode())
    return path.stat().st_size


# -- the floors (run as children of this script) -------------------------------------------


# CSV field index of each trades column before source_file.
_TRADE_FIELDS = (5, 12, 0, 1, 6, 2, 3, 4, 10, 8, 9, 13, 7)


def _rows(path: str) -> Any:
    """The CSV's data rows as the floor tuples: raw fields, nothing parsed."""
    name = os.path.basename(path)
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = csv.reader(f)
        next(rows)
        for number, r in enumerate(rows, start=2):
            if len(r) < 14:
                continue
            yield (
                (r[5], name, now, r[12], r[0]),
                (*(r[k] for k in _TRADE_FIELDS), path, number, now),
            )


def floor_sqlite(path: str, db: str) -> None:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    for ddl in (LEDGER_DDL["sqlite"], *LEDGER_INDEXES, TRADES_DDL.format(pk=TRADES_PK["sqlite"])):
        conn.execute(ddl)
    conn.commit()
    ledger_sql = f"INSERT OR IGNORE INTO imported_executions ({LEDGER_COLS}) VALUES (?,?,?,?,?)"
    trades_sql = f"INSERT OR IGNORE INTO trades ({TRADES_COLS}) VALUES ({','.join('?' * 16)})"
    ledger, trades = [], []
    for led, trade in _rows(path):
        ledger.append(led)
        trades.append(trade)
        if len(ledger) >= COMMIT_EVERY:
            conn.executemany(ledger_sql, ledger)
            conn.executemany(trades_sql, trades)
            conn.commit()
            ledger, trades = [], []
    conn.executemany(ledger_sql, ledger)
    conn.executemany(trades_sql, trades)
    conn.commit()
    conn.close()


def _pg_tables(url: str) -> Any:
    import psycopg  # noqa: PLC0415

    conn = psycopg.connect(_libpq(url))
    for ddl in (
        LEDGER_DDL["postgresql"],
        *LEDGER_INDEXES,
        TRADES_DDL.format(pk=TRADES_PK["postgresql"]),
    ):
        conn.execute(ddl)
    conn.commit()
    return conn


def floor_pg(path: str, url: str) -> None:
    conn = _pg_tables(url)
    ledger_sql = (
        f"INSERT INTO imported_executions ({LEDGER_COLS}) VALUES (%s,%s,%s,%s,%s) "
        "ON CONFLICT DO NOTHING"
    )
    trades_sql = (
        f"INSERT INTO trades ({TRADES_COLS}) VALUES ({','.join(['%s'] * 16)}) "
        "ON CONFLICT DO NOTHING"
    )
    ledger, trades = [], []
    with conn.cursor() as cur:
        for led, trade in _rows(path):
            ledger.append(led)
            trades.append(trade)
            if len(ledger) >= COMMIT_EVERY:
                cur.executemany(ledger_sql, ledger)
                cur.executemany(trades_sql, trades)
                conn.commit()
                ledger, trades = [], []
        if ledger:
            cur.executemany(ledger_sql, ledger)
            cur.executemany(trades_sql, trades)
        conn.commit()
    conn.close()


def copy_pg(path: str, url: str) -> None:
    conn = _pg_tables(url)
    with conn.cursor() as cur:
        with cur.copy(f"COPY imported_executions ({LEDGER_COLS}) FROM STDIN") as cp:
            for led, _ in _rows(path):
                cp.write_row(led)
        with cur.copy(f"COPY trades ({TRADES_COLS}) FROM STDIN") as cp:
            for _, trade in _rows(path):
                cp.write_row(trade)
    conn.commit()
    conn.close()


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


# -- running -------------------------------------------------------------------------------


@dataclass(slots=True)
class Run:
    command: str
    rows: int
    round: int
    seconds: float
    cpu_seconds: float
    maxrss_mib: float
    output: str

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CSV_IMPORT_")}
        self.pg_url = None if args.no_postgres else args.postgres
        self.runs: list[Run] = []

    def _timed(self, command: str, rows: int, rnd: int, argv: list[str]) -> Run:
        seconds, cpu, rss, out = self._child_nowait(argv)
        run = Run(
            command,
            rows,
            rnd,
            seconds,
            cpu,
            rss,
            out.strip().splitlines()[-1:][0] if out.strip() else "",
        )
        self.runs.append(run)
        print(
            f"  {command:12s} N={rows:>9,} round {rnd}: {seconds:7.2f} s  "
            f"{run.rate:9,.0f} rows/s  cpu {cpu:6.2f} s  rss {rss:6.1f} MiB  {run.output}",
            file=sys.stderr,
            flush=True,
        )
        return run

    def _child_nowait(self, argv: list[str]) -> tuple[float, float, float, str]:
        started = time.perf_counter()
        out_path = self.workdir / "child.out"
        err_path = self.workdir / "child.err"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen(argv, stdout=out, stderr=err, env=self.env)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            tail = err_path.read_text(errors="replace")[-1500:]
            raise RuntimeError(f"{' '.join(argv[1:4])}... exited {proc.returncode}: {tail}")
        return (
            seconds,
            usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss / 1024,
            out_path.read_text(errors="replace"),
        )

    def _cli(self, path: Path, url: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "csv_import_daemon",
            "import",
            str(path),
            "--database",
            url,
            "--source-timezone",
            TZ,
            "--log-format",
            "json",
            "--log-level",
            "warning",
            "--instance-name",
            "bench",
        ]

    def _me(self, *args: str) -> list[str]:
        return [sys.executable, str(Path(__file__).resolve()), *args]

    @staticmethod
    def _expect(run: Run, **counts: int) -> None:
        words = dict(w.split("=", 1) for w in run.output.split() if "=" in w)
        wrong = {k: words.get(k) for k, v in counts.items() if words.get(k) != str(v)}
        if wrong:
            raise RuntimeError(f"{run.command}: expected {counts}, got {run.output!r}")

    def _fresh_pg(self, name: str) -> str:
        import psycopg  # noqa: PLC0415

        assert self.pg_url is not None
        with psycopg.connect(_libpq(self.pg_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        base = self.pg_url.rsplit("/", 1)[0]
        return f"{base}/{name}"

    def _drop_pg(self, name: str) -> None:
        import psycopg  # noqa: PLC0415

        assert self.pg_url is not None
        with psycopg.connect(_libpq(self.pg_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')

    def one_round(self, csv_path: Path, rows: int, rnd: int) -> None:
        db = self.workdir / "floor.sqlite3"
        _unlink(db)
        self._timed("sqlite_floor", rows, rnd, self._me("_floor-sqlite", str(csv_path), str(db)))
        _unlink(db)
        db = self.workdir / "journal.sqlite3"
        _unlink(db)
        run = self._timed("sqlite_cold", rows, rnd, self._cli(csv_path, f"sqlite:///{db}"))
        self._expect(run, inserted=rows, duplicates=0, rejected=0, conflicts=0)
        copy = csv_path.with_name(csv_path.stem + "_copy.csv")
        shutil.copyfile(csv_path, copy)
        run = self._timed("sqlite_dup", rows, rnd, self._cli(copy, f"sqlite:///{db}"))
        self._expect(run, inserted=0, duplicates=rows, rejected=0, conflicts=0)
        copy.unlink()
        _unlink(db)
        if self.pg_url is None:
            return
        for command, argv in (
            ("pg_floor", lambda url: self._me("_floor-pg", str(csv_path), url)),
            ("pg_cold", lambda url: self._cli(csv_path, url)),
            ("pg_copy", lambda url: self._me("_copy-pg", str(csv_path), url)),
        ):
            name = f"bench_speed_{os.getpid()}"
            url = self._fresh_pg(name)
            try:
                run = self._timed(command, rows, rnd, argv(url))
                if command == "pg_cold":
                    self._expect(run, inserted=rows, duplicates=0, rejected=0)
            finally:
                self._drop_pg(name)

    def run(self) -> dict[str, Any]:
        for rows in self.args.rows:
            csv_path = self.workdir / f"NinjaTrader_Executions_{rows}.csv"
            size = generate(csv_path, rows, self.args.seed)
            print(f"bench: {rows:,} rows, {size / 2**20:.1f} MiB", file=sys.stderr, flush=True)
            for rnd in range(1, self.args.rounds + 1):
                self.one_round(csv_path, rows, rnd)
            csv_path.unlink()
        return self.report()

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sizes": {}}
        for rows in self.args.rows:
            mine = [r for r in self.runs if r.rows == rows]
            by: dict[str, list[Run]] = {}
            for r in mine:
                by.setdefault(r.command, []).append(r)
            commands = {
                name: {
                    "rows_per_s_median": statistics.median(r.rate for r in rs),
                    "rows_per_s_best": max(r.rate for r in rs),
                    "seconds_min": min(r.seconds for r in rs),
                    "seconds_median": statistics.median(r.seconds for r in rs),
                    "cpu_seconds_median": statistics.median(r.cpu_seconds for r in rs),
                    "maxrss_mib_max": max(r.maxrss_mib for r in rs),
                }
                for name, rs in by.items()
            }

            def ratios(
                num: str, den: str, by: dict[str, list[Run]] = by
            ) -> dict[str, float] | None:
                if num not in by or den not in by:
                    return None
                # Per round: the two runs of a round saw the same machine load.
                per = [b.seconds / a.seconds for a, b in zip(by[num], by[den], strict=True)]
                cpu = [b.cpu_seconds / a.cpu_seconds for a, b in zip(by[num], by[den], strict=True)]
                return {
                    "min": min(per),
                    "median": statistics.median(per),
                    "cpu_median": statistics.median(cpu),
                }

            out["sizes"][str(rows)] = {
                "commands": commands,
                "ratios": {
                    "sqlite_cold_vs_floor": ratios("sqlite_cold", "sqlite_floor"),
                    "sqlite_dup_vs_floor": ratios("sqlite_dup", "sqlite_floor"),
                    "pg_cold_vs_floor": ratios("pg_cold", "pg_floor"),
                    "pg_cold_vs_copy": ratios("pg_cold", "pg_copy"),
                },
            }
        out["runs"] = [asdict(r) for r in self.runs]
        return out


TARGETS = {
    "sqlite_cold_vs_floor": 2.0,
    "sqlite_dup_vs_floor": 3.0,
    "pg_cold_vs_floor": 1.5,
    "pg_cold_vs_copy": None,
}


def render(report: dict[str, Any]) -> str:
    lines = ["| N | command | rows/s median (best) | s min / median | CPU s | peak RSS MiB |"]
    lines.append("| --- | --- | --- | --- | --- | --- |")
    for rows, size in report["sizes"].items():
        for name, c in size["commands"].items():
            lines.append(
                f"| {int(rows):,} | {name} | {c['rows_per_s_median']:,.0f} "
                f"({c['rows_per_s_best']:,.0f}) | {c['seconds_min']:.2f} / "
                f"{c['seconds_median']:.2f} | {c['cpu_seconds_median']:.2f}"
                f" | {c['maxrss_mib_max']:.0f} |"
            )
    lines += ["", "| N | ratio (wall, per round) | min | median | CPU-time median | target |"]
    lines.append("| --- | --- | --- | --- | --- | --- |")
    for rows, size in report["sizes"].items():
        for name, r in size["ratios"].items():
            if r is None:
                continue
            target = TARGETS[name]
            mark = (
                ""
                if target is None
                else (f">= {target} " + ("ok" if r["median"] >= target else "NOT MET"))
            )
            lines.append(
                f"| {int(rows):,} | {name} | {r['min']:.2f}x | {r['median']:.2f}x "
                f"| {r['cpu_median']:.2f}x | {mark} |"
            )
    return "\n".join(lines)


def _unlink(db: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{db}{suffix}").unlink()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    internal = {"_floor-sqlite": floor_sqlite, "_floor-pg": floor_pg, "_copy-pg": copy_pg}
    if argv and argv[0] in internal:
        internal[argv[0]](argv[1], argv[2])
        return 0
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--rows", type=int, nargs="+", default=[100_000], help="sizes N (default 100000)"
    )
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per size (default 3)")
    p.add_argument("--seed", type=int, default=14)
    p.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL commands")
    p.add_argument(
        "--postgres",
        default=os.environ.get(POSTGRES_ENV, DEFAULT_PG),
        help=f"server URL, a scratch database is made beside it (default ${POSTGRES_ENV})",
    )
    p.add_argument(
        "--json", type=Path, help="write the report here (default bench-results/speed-TIME.json)"
    )
    p.add_argument("--workdir", type=Path, help="where files and databases go (default a temp dir)")
    args = p.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-speed-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    report = Bench(args, workdir).run()
    report["meta"] = {
        "command": " ".join(["python", "benchmarks/bench_speed.py", *argv]),
        "started": datetime.fromtimestamp(started, UTC).isoformat(),
        "seconds": time.time() - started,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
    }
    target = args.json or Path("bench-results") / f"speed-{time.strftime('%Y%m%d-%H%M%S')}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2))
    print(render(report))
    print(f"\nJSON: {target}  (load average at the end: {os.getloadavg()[0]:.1f})")
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
