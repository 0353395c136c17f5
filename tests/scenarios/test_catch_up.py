"""A catch-up through the real daemon while its heartbeat keeps falling due.

The heartbeat is the one write the importer does besides imports. Written on a second
connection while a batch of small files holds SQLite's write lock, it waited out the lock
timeout once per file and the catch-up crawled; these tests run the daemon with a
heartbeat due every few milliseconds and a short lock timeout, so such a wait shows at once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.daemon import start_daemon
from support.journal import Journal, sqlite_url
from support.rows import make_rows, write_csv
from support.waiting import wait_for

FILES = 300
ROWS = 2


@pytest.mark.daemon
def test_a_catch_up_never_waits_on_its_own_heartbeat(tmp_path: Path) -> None:
    """Hundreds of small files queued at start, a heartbeat due all the time: every file is
    imported, no heartbeat write fails or waits on a lock, the heartbeat stays current."""
    watch = tmp_path / "watch"
    watch.mkdir()
    for i in range(FILES):
        write_csv(watch / f"day-{i:04d}.csv", make_rows(ROWS, ROWS * i))
    url = sqlite_url(tmp_path)
    journal = Journal(url)
    env = {"CSV_IMPORT_HEARTBEAT_INTERVAL": "0.01", "CSV_IMPORT_BUSY_TIMEOUT": "2"}
    try:
        with start_daemon(watch, url, "--log-level", "debug", env=env) as d:

            def progress() -> tuple[int, int]:
                waits = len(d.events("heartbeat_failed")) + len(d.events("database_unavailable"))
                return journal.trades(), waits

            # Ends at the first lock wait (each costs the 2 s timeout) or when all is in.
            done, waits = wait_for(
                progress, lambda p: p[0] == FILES * ROWS or p[1] > 0, timeout=120
            )
            assert waits == 0, d.events("heartbeat_failed")[:1]
            assert done == FILES * ROWS
            d.wait_idle(imports=FILES, rows=FILES * ROWS)
            beat = journal.scalar(
                "SELECT heartbeat_at FROM daemon_instances WHERE instance = 'test-host'"
            )
            last = journal.scalar("SELECT max(imported_at) FROM trades")
            assert beat is not None
            assert beat >= last  # it beats on after the catch-up
            assert d.stop() == 0
        assert d.events("heartbeat_failed") == []
    finally:
        journal.close()
