"""``round-trips --rebuild`` beside a running daemon that imports: both always succeed.

A real daemon subprocess reads files another thread keeps appending to (several accounts
and instruments), while ``round-trips --rebuild`` runs again and again as its own process.
On PostgreSQL the two used to meet in a deadlock or a foreign-key violation (reported as
"database unavailable"); now every rebuild exits 0, the daemon logs no failed import, every
line is stored once and the round trips equal a rebuild from trades.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from support.daemon import start_daemon
from support.journal import Journal
from support.processes import run_cli
from support.rows import HEADER, ExecutionGenerator
from support.trips import assert_tables_equal_a_rebuild
from support.waiting import wait_for

FILES = 3
ROUNDS = 45  # appends, round robin over the files
LINES = 20  # lines per append
REBUILDS = 8  # at least this many (more while the appends go on)


def _appender(watch: Path, done: threading.Event) -> None:
    """Append generated executions to the files, one batch of lines at a time."""
    gen = ExecutionGenerator(seed=7)
    paths = [watch / f"live-{i}.csv" for i in range(FILES)]
    for path in paths:
        path.write_text(HEADER + "\r\n", encoding="utf-8")
    try:
        for n in range(ROUNDS):
            with open(paths[n % FILES], "a", encoding="utf-8", newline="") as f:
                f.write("".join(line + "\r\n" for line in gen.lines(LINES)))
            done.wait(0.1)  # pace only: the daemon imports each append on its own
    finally:
        done.set()


@pytest.mark.daemon
def test_rebuilds_beside_an_importing_daemon_all_succeed(database_url: str, tmp_path: Path) -> None:
    """Every rebuild exits 0 while the daemon imports; nothing is lost or doubled, and
    the round trips left equal a rebuild."""
    watch = tmp_path / "watch"
    watch.mkdir()
    journal = Journal(database_url)
    engine = create_engine(database_url)
    try:
        with start_daemon(watch, database_url) as d:
            done = threading.Event()
            writer = threading.Thread(target=_appender, args=(watch, done))
            writer.start()
            rebuilds = 0
            try:
                while not done.is_set() or rebuilds < REBUILDS:
                    run = run_cli("round-trips", "--rebuild", "--database", database_url)
                    assert run.returncode == 0, run.stderr
                    assert run.stdout.startswith("rebuilt "), run.stdout
                    rebuilds += 1
            finally:
                done.set()
                writer.join()
            wait_for(journal.trades, ROUNDS * LINES, timeout=120, what="every appended line")
            d.stop_cleanly()
            assert d.events("import_crashed") == []
            assert d.events("database_unavailable") == []
            assert d.events("group_rolled_back") == []
        assert journal.ledger() == ROUNDS * LINES
        assert_tables_equal_a_rebuild(engine)
    finally:
        journal.close()
        engine.dispose()
