"""A FIFO (or a link to one) named like an export in the folder: refused once with a
reason, never waited on, by the daemon, one-shot ``import DIR`` and ``verify``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support.daemon import start_daemon
from support.journal import Journal, sqlite_url
from support.processes import run_cli
from support.rows import make_rows, write_csv
from support.waiting import wait_for


@pytest.fixture
def watch(tmp_path: Path) -> Path:
    folder = tmp_path / "watch"
    folder.mkdir()
    os.mkfifo(folder / "x.csv")  # no writer: a blocking open() waits for ever
    os.mkfifo(tmp_path / "elsewhere")
    (folder / "y.csv").symlink_to(folder / "x.csv")
    return folder


@pytest.mark.daemon
@pytest.mark.timeout(120)
def test_fifo_in_the_folder_is_refused_once_and_later_files_are_imported(
    watch: Path, tmp_path: Path
) -> None:
    """The daemon starts with two FIFO entries in the folder: each is refused with a reason
    (logged once, even across a rescan), a file dropped afterwards is imported, and SIGTERM
    ends the daemon with exit 0."""
    url = sqlite_url(tmp_path)
    journal = Journal(url)
    try:
        with start_daemon(watch, url, "--rescan-interval", "1", "--log-level", "debug") as d:
            write_csv(watch / "later.csv", make_rows(25))
            wait_for(journal.trades, 25, timeout=30, what="the later file's rows")
            mark = d.notify.mark()
            d.wait_idle(imports=1, after=mark)
            refused = d.events("import_refused")
            d.wait_event("rescan", lambda e: e.get("reason") == "periodic", timeout=10)
            assert sorted(e["file"].rsplit("/", 1)[-1] for e in refused) == ["x.csv", "y.csv"]
            assert all("a FIFO, not a regular file" in e["message"] for e in refused)
            assert len(d.events("import_refused")) == 2
            assert d.stop(timeout=20) == 0, d.log_text()[-3000:]
    finally:
        journal.close()


@pytest.mark.timeout(120)
def test_one_shot_import_and_verify_of_a_folder_with_a_fifo_do_not_hang(
    watch: Path, tmp_path: Path
) -> None:
    """``import DIR`` imports the regular file and refuses the FIFOs (exit 1, a reason);
    ``verify`` of a FIFO says it cannot read it instead of waiting."""
    url = sqlite_url(tmp_path)
    write_csv(watch / "real.csv", make_rows(10))
    done = run_cli("import", str(watch), "--database", url, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "a FIFO, not a regular file" in done.stderr
    journal = Journal(url)
    try:
        assert journal.trades() == 10
    finally:
        journal.close()
    checked = run_cli("verify", str(watch / "x.csv"), "--database", url, timeout=60)
    assert checked.returncode == 1, checked.stderr
    assert "a FIFO, not a regular file" in checked.stdout + checked.stderr


@pytest.mark.daemon
def test_header_over_64_kb_is_refused_with_a_reason(tmp_path: Path) -> None:
    """A file whose header line runs past 64 KB: the daemon refuses it (import_refused,
    a warning naming the limit) instead of waiting for a newline it can never see."""
    watch = tmp_path / "plain"
    watch.mkdir()
    url = sqlite_url(tmp_path)
    names = ",".join(f"Column{i}" for i in range(10_000))
    with start_daemon(watch, url) as d:
        (watch / "wide.csv").write_text("Instrument,Action," + names + "\n", encoding="ascii")
        event = d.wait_event("import_refused", timeout=30)
        assert event["file"].endswith("wide.csv")
        assert "longer than 64 KB" in event["message"]
        assert d.stop(timeout=20) == 0, d.log_text()[-3000:]
