"""The daemon keeps ``report_path`` fresh: a page at start, a new one within seconds of an
appended fill, written whole (renamed into place), with a reload for an open tab."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from support.daemon import DaemonProcess
from support.journal_page import HOSTILE_INSTRUMENT, journal_files, read_page
from support.trips import DAY1, row
from support.waiting import wait_for


def _rows(page: Path) -> list[list[object]] | None:
    try:
        html = page.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    rows: list[list[object]] = read_page(html).rows()["rows"]
    return rows


@pytest.mark.daemon
def test_the_daemon_rewrites_the_page_after_an_appended_fill(tmp_path: Path) -> None:
    """31 round trips at start (one open); closing the open one by an appended line makes
    the page show it closed; the page reloads itself; no temporary file is left."""
    watch = tmp_path / "watch"
    watch.mkdir()
    (csv,) = journal_files(watch)
    page = tmp_path / "out" / "journal.html"
    page.parent.mkdir()
    db = f"sqlite:///{tmp_path / 'j.sqlite3'}"
    with DaemonProcess(watch, db, "--report-path", str(page)) as daemon:
        daemon.wait_ready()
        daemon.wait_idle(imports=1)
        wait_for(lambda: len(_rows(page) or []), 31, what="the first page")
        opened = [r for r in _rows(page) or [] if r[2] is None]
        assert len(opened) == 1
        html = page.read_text(encoding="utf-8")
        assert read_page(html).refresh == "10"
        when = DAY1 + timedelta(days=12)
        with csv.open("a", encoding="utf-8") as out:
            out.write(row("e9999", "Sell", 3, "2.5", when, instrument=HOSTILE_INSTRUMENT) + "\n")
        wait_for(
            lambda: [r[2] is None for r in _rows(page) or []].count(True),
            0,
            what="the page to show the round trip closed",
        )
        assert sorted(os.listdir(page.parent)) == ["journal.html"]
        assert page.stat().st_mode & 0o077 == 0
        daemon.stop_cleanly()
    assert not daemon.events("report_failed")


@pytest.mark.daemon
def test_a_report_path_in_a_missing_folder_is_a_configuration_error(tmp_path: Path) -> None:
    """Exit 2 at start, saying which setting and folder."""
    watch = tmp_path / "watch"
    watch.mkdir()
    page = tmp_path / "nowhere" / "journal.html"
    db = f"sqlite:///{tmp_path / 'j.sqlite3'}"
    with DaemonProcess(watch, db, "--report-path", str(page)) as daemon:
        assert daemon.wait_exit(30) == 2
        (event,) = daemon.events("configuration_error")
        assert "report_path" in event["error"]
