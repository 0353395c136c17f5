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

The floors are ``speed_floors.py``'s, each in a child that imports only the standard
library. Peak RSS is the child's ``ru_maxrss`` (wait4). Prints min/median per command and the
ratios of the issue's targets (medians of the per-round ratios), writes JSON. Figures on a
shared machine are noisy: compare the ratios, which are measured in the same run.

  python benchmarks/bench_speed.py --rows 300000 1000000 --rounds 3
  python benchmarks/bench_speed.py --rows 50000 --no-postgres
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# The row generator, the clean environment and the measured child are the tests' and
# bench.py's own: one copy of each (tests/support/, benchmarks/bench.py).
REPO = Path(__file__).resolve().parent.parent
if str(REPO / "tests") not in sys.path:
    sys.path.insert(0, str(REPO / "tests"))

from bench import expect, unlink_db  # noqa: E402
from speed_floors import libpq  # noqa: E402

from support.postgres import POSTGRES_ENV  # noqa: E402
from support.processes import CLI, clean_env, run_child  # noqa: E402
from support.rows import ExecutionGenerator, write_export  # noqa: E402

TZ = "America/New_York"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
FLOORS = Path(__file__).resolve().parent / "speed_floors.py"

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
        self.env = clean_env()
        self.pg_url = None if args.no_postgres else args.postgres
        self.runs: list[Run] = []

    def _timed(self, command: str, rows: int, rnd: int, argv: list[str], **counts: int) -> Run:
        """Run and record ``argv``; with ``counts``, the CLI summary must show them."""
        child = run_child(argv, self.workdir, "child", env=self.env)
        if child.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv[1:4])}... exited {child.returncode}: {child.stderr_tail}"
            )
        if counts:
            expect(child, command, **counts)
        out = child.stdout.strip()
        run = Run(
            command,
            rows,
            rnd,
            child.seconds,
            child.cpu_seconds,
            child.maxrss_kib / 1024,
            out.splitlines()[-1] if out else "",
        )
        self.runs.append(run)
        print(
            f"  {command:12s} N={rows:>9,} round {rnd}: {run.seconds:7.2f} s  "
            f"{run.rate:9,.0f} rows/s  cpu {run.cpu_seconds:6.2f} s  "
            f"rss {run.maxrss_mib:6.1f} MiB  {run.output}",
            file=sys.stderr,
            flush=True,
        )
        return run

    def _cli(self, path: Path, url: str) -> list[str]:
        return [
            *CLI,
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

    def _floor(self, kind: str, *args: str) -> list[str]:
        return [sys.executable, str(FLOORS), kind, *args]

    def _fresh_pg(self, name: str) -> str:
        import psycopg  # noqa: PLC0415

        assert self.pg_url is not None
        with psycopg.connect(libpq(self.pg_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        base = self.pg_url.rsplit("/", 1)[0]
        return f"{base}/{name}"

    def _drop_pg(self, name: str) -> None:
        import psycopg  # noqa: PLC0415

        assert self.pg_url is not None
        with psycopg.connect(libpq(self.pg_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')

    def one_round(self, csv_path: Path, rows: int, rnd: int) -> None:
        db = self.workdir / "floor.sqlite3"
        unlink_db(db)
        self._timed("sqlite_floor", rows, rnd, self._floor("sqlite", str(csv_path), str(db)))
        unlink_db(db)
        db = self.workdir / "journal.sqlite3"
        unlink_db(db)
        counts = {"rejected": 0, "conflicts": 0}
        self._timed(
            "sqlite_cold",
            rows,
            rnd,
            self._cli(csv_path, f"sqlite:///{db}"),
            inserted=rows,
            duplicates=0,
            **counts,
        )
        copy = csv_path.with_name(csv_path.stem + "_copy.csv")
        shutil.copyfile(csv_path, copy)
        self._timed(
            "sqlite_dup",
            rows,
            rnd,
            self._cli(copy, f"sqlite:///{db}"),
            inserted=0,
            duplicates=rows,
            **counts,
        )
        copy.unlink()
        unlink_db(db)
        if self.pg_url is None:
            return
        for command, argv in (
            ("pg_floor", lambda url: self._floor("pg", str(csv_path), url)),
            ("pg_cold", lambda url: self._cli(csv_path, url)),
            ("pg_copy", lambda url: self._floor("copy", str(csv_path), url)),
        ):
            name = f"bench_speed_{os.getpid()}"
            url = self._fresh_pg(name)
            try:
                expected = (
                    {"inserted": rows, "duplicates": 0, "rejected": 0}
                    if command == "pg_cold"
                    else {}
                )
                self._timed(command, rows, rnd, argv(url), **expected)
            finally:
                self._drop_pg(name)

    def run(self) -> dict[str, Any]:
        for rows in self.args.rows:
            csv_path = self.workdir / f"NinjaTrader_Executions_{rows}.csv"
            size = write_export(csv_path, ExecutionGenerator(self.args.seed), rows)
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


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
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
