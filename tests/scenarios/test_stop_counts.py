"""SIGTERM stops a large import between committed batches, and the log says exactly what
was committed: ``import_interrupted`` carries the interrupted import's counts and ``stop``
the whole run's, equal to what the database holds."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from support.daemon import start_daemon
from support.journal import Journal
from support.rows import make_rows, write_csv
from support.waiting import wait_for

# Every test here starts the daemon subprocess or a real observer.
pytestmark = pytest.mark.daemon

# 5000-row transactions over 150,000 rows: thirty commits, so SIGTERM after the first
# lands with many still to come however fast the machine is.
LARGE_ROWS = 150_000
SMALL_BATCHES = {"CSV_IMPORT_BATCH_SIZE": "5000"}


def test_sigterm_mid_import_logs_the_committed_counts(tmp_path: Path, database_url: str) -> None:
    """import_interrupted and stop report the rows committed, as the database holds them."""
    watch = tmp_path / "watch"
    watch.mkdir()
    journal = Journal(database_url)
    small_rows, large_rows = make_rows(30), make_rows(LARGE_ROWS, start=1000)
    try:
        with start_daemon(watch, database_url, env=SMALL_BATCHES) as d:
            small = write_csv(watch / "small.csv", small_rows)
            wait_for(journal.trades, len(small_rows), what="the small file")
            large = write_csv(watch / "large.csv", large_rows)
            size = large.stat().st_size
            # The progress signal: a committed checkpoint inside the file, not at its end.
            wait_for(
                lambda: (journal.checkpoint(large) or {}).get("offset", 0),
                lambda offset: 0 < offset < size,
                timeout=60,
                what="the large file's first committed batch",
            )
            d.send(signal.SIGTERM)
            assert d.wait_exit(30) == 0, d.log_text()
            [interrupted] = d.events("import_interrupted")
            [stop] = d.events("stop")
        checkpoint = journal.checkpoint(large)
        assert checkpoint is not None
        committed = journal.trades() - len(small_rows)
        assert 0 < committed < LARGE_ROWS, "the import was not interrupted"
        assert interrupted["file"] == str(large)
        assert interrupted["inserted"] == committed == checkpoint["inserted"]
        assert interrupted["offset"] == checkpoint["offset"]
        assert stop["inserted"] == journal.trades() == journal.ledger()
        assert stop["imports"] == 2  # the small file and the interrupted one
        assert (stop["duplicates"], stop["rejected"], stop["conflicts"]) == (0, 0, 0)
        assert small.exists()
    finally:
        journal.close()
