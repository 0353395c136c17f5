"""Several writers on one database at the same moment: exactly-once across processes.

Four ``python -m csv_import_daemon import`` processes, held at a barrier (each has loaded
everything and says so on stdout, then waits for a line on stdin), are released together
on overlapping files and a fresh database they all migrate at once. Then two daemons on
one shared folder, and two daemons each on its own folder, write into one database.
Each test runs on SQLite and on PostgreSQL (``database_url``).
"""

from __future__ import annotations

import contextlib
import random
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.daemon import DaemonProcess, start_daemon
from support.journal import Journal
from support.processes import clean_env
from support.rows import Row, append, csv_text, ids_of, make_rows, write_csv
from support.waiting import wait_for

PROCESSES = 4
SEGMENT = 400  # rows per segment; a file holds two segments
SEGMENTS = 12
FILES_PER_PROCESS = 6
READY_TIMEOUT = 60.0
RUN_TIMEOUT = 120.0
SUMMARY = re.compile(
    r"^(?P<file>.+): (?P<status>\w+) inserted=(?P<inserted>\d+) "
    r"duplicates=(?P<duplicates>\d+) rejected=(?P<rejected>\d+) "
    r"conflicts=(?P<conflicts>\d+)"
)

# Everything heavy is imported before the barrier so the processes really start together;
# after it, the module runs exactly as ``python -m csv_import_daemon import ...``.
BARRIER = """
import runpy, sys
import csv_import_daemon.cli.main, csv_import_daemon.importing.service, csv_import_daemon.db.migrate
try:
    import psycopg
except ImportError:
    pass
sys.stdout.write("ready\\n")
sys.stdout.flush()
sys.stdin.readline()
sys.argv = ["csv_import_daemon", *sys.argv[1:]]
runpy.run_module("csv_import_daemon", run_name="__main__", alter_sys=True)
"""


@pytest.fixture
def journal(database_url: str) -> Iterator[Journal]:
    j = Journal(database_url)
    yield j
    j.close()


def _shuffled(rows: list[Row], seed: int) -> list[Row]:
    out = list(rows)
    random.Random(seed).shuffle(out)
    return out


def _overlapping_files(folder: Path, rows: list[Row]) -> dict[int, list[Path]]:
    """Per process, six files of two segments each; every process covers every row.

    Every row is therefore in the files of all four processes, rows are shuffled within
    each file, and the processes go through their files in different orders. One more
    file, ``shared.csv``, is the very same path for all of them.
    """
    segments = [rows[i * SEGMENT : (i + 1) * SEGMENT] for i in range(SEGMENTS)]
    shared = write_csv(folder / "shared.csv", _shuffled(rows[::7], seed=99))
    plan: dict[int, list[Path]] = {}
    for p in range(PROCESSES):
        files = []
        for k in range(FILES_PER_PROCESS):
            s = (2 * k + p) % SEGMENTS
            content = _shuffled(segments[s] + segments[(s + 1) % SEGMENTS], seed=p * 100 + k)
            files.append(write_csv(folder / f"p{p}-f{k}.csv", content))
        files = files[p:] + files[:p]  # each process starts elsewhere
        files.insert(p % len(files), shared)
        plan[p] = files
    return plan


def _release_together(commands: list[list[str]], cwd: Path) -> list[tuple[int, str, str]]:
    """Start every command at the barrier, wait until all are ready, release them at once;
    return (exit code, stdout, stderr) of each."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", BARRIER, *cmd],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=clean_env({"PYTHONUNBUFFERED": "1"}),
            text=True,
        )
        for cmd in commands
    ]
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        for proc in procs:
            assert proc.stdout is not None
            ready, _, _ = select.select(
                [proc.stdout], [], [], max(0.0, deadline - time.monotonic())
            )
            line = proc.stdout.readline() if ready else ""
            assert line == "ready\n", (
                f"process not ready within {READY_TIMEOUT} s: {line!r} {proc.poll()}"
            )
        for proc in procs:  # the barrier: every process is blocked on stdin right now
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=RUN_TIMEOUT)
            results.append((proc.returncode, out, err))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def _summaries(stdout: str) -> list[dict[str, Any]]:
    out = []
    for line in stdout.splitlines():
        if line.startswith("total: "):  # a multi-file import's last line
            continue
        m = SUMMARY.match(line)
        assert m is not None, f"unexpected output line {line!r}"
        out.append({k: (int(v) if v.isdigit() else v) for k, v in m.groupdict().items()})
    return out


def test_four_processes_import_overlapping_files_exactly_once(
    database_url: str, journal: Journal, tmp_path: Path
) -> None:
    """Four importers released together on overlapping files leave exactly the unique set."""
    folder = tmp_path / "csv"
    folder.mkdir()
    rows = make_rows(SEGMENT * SEGMENTS)
    plan = _overlapping_files(folder, rows)
    commands = [
        [
            "import",
            *map(str, plan[p]),
            "--database",
            database_url,
            "--instance-name",
            f"pc{p}",
            "--source-timezone",
            "UTC",
            "--log-format",
            "json",
            "--settle",
            "0",
        ]
        for p in range(PROCESSES)
    ]

    results = _release_together(commands, tmp_path)

    inserted_total = 0
    for p, (code, out, err) in enumerate(results):
        assert code == 0, f"process {p} exited {code}:\n{err}"
        summaries = _summaries(out)
        assert [s["file"] for s in summaries] == [str(f) for f in plan[p]]
        for s in summaries:
            expected_rows = len(rows[::7]) if s["file"].endswith("shared.csv") else 2 * SEGMENT
            assert s["status"] == "imported"
            assert (s["rejected"], s["conflicts"]) == (0, 0), s
            assert s["inserted"] + s["duplicates"] == expected_rows, s
            inserted_total += s["inserted"]
    assert inserted_total == len(rows)
    assert journal.ids() == ids_of(rows)
    assert journal.trades() == journal.ledger() == len(rows)
    assert journal.scalar("SELECT count(*) FROM import_rejections") == 0
    # One checkpoint per process and file, each at the end of its file.
    checkpoints = journal.rows(
        'SELECT instance, path, "offset", size, inserted, duplicates FROM import_files'
    )
    assert len(checkpoints) == PROCESSES * (FILES_PER_PROCESS + 1)
    assert all(c["offset"] == c["size"] for c in checkpoints)
    assert sum(c["inserted"] for c in checkpoints) == len(rows)
    shared = [c for c in checkpoints if c["path"].endswith("shared.csv")]
    assert sorted(c["instance"] for c in shared) == [f"pc{p}" for p in range(PROCESSES)]


def _checkpoints(journal: Journal, path: Path) -> dict[str, dict[str, Any]]:
    found = journal.rows("SELECT * FROM import_files WHERE path = :p", p=str(path))
    return {c["instance"]: c for c in found}


def _caught_up(journal: Journal, path: Path, instances: list[str]) -> bool:
    size = path.stat().st_size
    cps = _checkpoints(journal, path)
    return all(name in cps and cps[name]["offset"] == size for name in instances)


def _wait_caught_up(journal: Journal, path: Path, instances: list[str]) -> None:
    wait_for(
        lambda: _caught_up(journal, path, instances),
        True,
        what=f"the checkpoints of {path.name} by {instances}",
    )


@contextlib.contextmanager
def _daemons(
    database_url: str, tmp_path: Path, watched: list[tuple[Path, str]]
) -> Iterator[list[DaemonProcess]]:
    """One daemon per (folder, instance name), all on ``database_url``; each must stop
    with exit 0 at the end of the block, and none outlives it."""
    daemons: list[DaemonProcess] = []
    try:
        for folder, name in watched:
            daemons.append(
                start_daemon(folder, database_url, "--instance-name", name, log_dir=tmp_path)
            )
        yield daemons
        for d in daemons:
            assert d.stop() == 0, d.log_text()
    finally:
        for d in daemons:
            d.__exit__(None, None, None)


@pytest.mark.daemon
def test_two_daemons_on_one_shared_folder_import_exactly_once(
    database_url: str, journal: Journal, tmp_path: Path
) -> None:
    """Two daemons with their own instance names on one folder: one copy of each row, and
    each keeps its own checkpoint of every file at the file's end."""
    watch = tmp_path / "shared"
    watch.mkdir()
    rows = make_rows(900)
    names = ["desk-a", "desk-b"]
    with _daemons(database_url, tmp_path, [(watch, name) for name in names]) as daemons:
        first = write_csv(watch / "NinjaTrader_Executions_20251031.csv", rows[:300])
        second = write_csv(watch / "NinjaTrader_Executions_20251103.csv", rows[300:600])
        wait_for(journal.ids, ids_of(rows[:600]), what="the first two files")
        for chunk in (rows[600:700], rows[700:800], rows[800:]):
            append(first, csv_text(chunk, header=False))
        wait_for(journal.ids, ids_of(rows), what="every row")
        for path in (first, second):
            _wait_caught_up(journal, path, names)

    assert journal.trades() == journal.ledger() == len(rows)
    for path, count in ((first, 600), (second, 300)):
        cps = _checkpoints(journal, path)
        assert set(cps) == set(names)
        # Each row was inserted by exactly one daemon; the other saw it as a duplicate.
        assert sum(c["inserted"] for c in cps.values()) == count
        for c in cps.values():
            assert c["inserted"] + c["duplicates"] == count
            assert c["offset"] == c["size"] == path.stat().st_size
    inserted = sum(e["inserted"] for d in daemons for e in d.events("import"))
    assert inserted == len(rows)


@pytest.mark.daemon
def test_two_daemons_on_their_own_folders_share_one_database(
    database_url: str, journal: Journal, tmp_path: Path
) -> None:
    """Two daemons, two folders, one database, the same copied fills in both: exactly once,
    and one daemon's checkpoints never replace the other's."""
    folders = [tmp_path / "pc1", tmp_path / "pc2"]
    for f in folders:
        f.mkdir()
    rows = make_rows(600)
    names = ["pc1", "pc2"]
    name = "NinjaTrader_Executions_20251031.csv"
    with _daemons(database_url, tmp_path, list(zip(folders, names, strict=True))):
        # Copy trading: the same fills exported on both PCs, plus each PC's own.
        paths = [
            write_csv(folders[0] / name, rows[:200] + rows[200:400]),
            write_csv(folders[1] / name, rows[200:400] + rows[400:500]),
        ]
        wait_for(journal.ids, ids_of(rows[:500]), what="both folders' files")
        append(paths[0], csv_text(rows[500:550], header=False))
        append(paths[1], csv_text(rows[500:600], header=False))
        wait_for(journal.ids, ids_of(rows), what="the appended rows")
        for path, inst in zip(paths, names, strict=True):
            _wait_caught_up(journal, path, [inst])

    assert journal.trades() == journal.ledger() == len(rows)
    all_cps = journal.rows(
        'SELECT instance, path, inserted, duplicates, "offset", size FROM import_files'
    )
    assert sorted((c["instance"], c["path"]) for c in all_cps) == [
        ("pc1", str(paths[0])),
        ("pc2", str(paths[1])),
    ]
    assert sum(c["inserted"] for c in all_cps) == len(rows)
    assert [c["inserted"] + c["duplicates"] for c in sorted(all_cps, key=lambda c: c["path"])] == [
        450,
        400,
    ]
    assert all(c["offset"] == c["size"] for c in all_cps)
