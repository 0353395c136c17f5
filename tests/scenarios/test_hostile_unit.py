"""The systemd unit contains what abuse could still cost: MemoryMax=, TasksMax= and
LimitNOFILE= are set, hold what the daemon really uses with room to spare (measured here
on the real daemon), and keep the unit's security exposure at 0.8 or better."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from contextlib import ExitStack
from pathlib import Path

import pytest

from support.daemon import start_daemon
from support.journal import Journal, sqlite_url
from support.paths import REPO
from support.rows import make_rows, write_csv
from support.waiting import wait_for

UNIT = REPO / "systemd" / "csv-import-daemon.service"
SIZES = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def setting(name: str) -> str:
    values = re.findall(rf"^{name}=(.*)$", UNIT.read_text(), flags=re.MULTILINE)
    assert len(values) == 1, f"{name}= set {len(values)} times"
    return values[0].strip()


def size(text: str) -> int:
    return int(text[:-1]) * SIZES[text[-1]] if text[-1] in SIZES else int(text)


def test_unit_sets_the_resource_limits() -> None:
    """MemoryHigh= under MemoryMax=, both above the 350 MB the hostile files are held to;
    TasksMax= and LimitNOFILE= numbers."""
    high, top = size(setting("MemoryHigh")), size(setting("MemoryMax"))
    assert 350 * 10**6 < high < top
    assert int(setting("TasksMax")) >= 16
    assert int(setting("LimitNOFILE")) == 256  # what test_hostile_metrics runs the daemon under


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.daemon
def test_the_daemon_stays_well_inside_the_limits(watch: Path, tmp_path: Path) -> None:
    """An import with metrics served and 300 idle connections: threads under half of
    TasksMax=, descriptors under half of LimitNOFILE=, peak memory under MemoryHigh=."""
    url = sqlite_url(tmp_path)
    port = free_port()
    journal = Journal(url)
    try:
        with (
            start_daemon(watch, url, "--metrics-address", f"127.0.0.1:{port}") as d,
            ExitStack() as held,
        ):
            write_csv(watch / "a.csv", make_rows(20_000))
            for _ in range(300):
                held.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
            wait_for(journal.trades, 20_000, timeout=120, what="20,000 rows")
            tasks = len(os.listdir(f"/proc/{d.pid}/task"))
            fds = len(os.listdir(f"/proc/{d.pid}/fd"))
            status = Path(f"/proc/{d.pid}/status").read_text()
            peak = int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)[1]) * 1024  # type: ignore[index]
            assert tasks <= int(setting("TasksMax")) // 2, tasks
            assert fds <= int(setting("LimitNOFILE")) // 2, fds
            assert peak < size(setting("MemoryHigh")), peak
            held.close()
            assert d.stop() == 0, d.log_text()[-3000:]
    finally:
        journal.close()


@pytest.fixture
def watch(tmp_path: Path) -> Path:
    folder = tmp_path / "watch"
    folder.mkdir()
    return folder


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here"
)
def test_unit_verifies_and_keeps_its_exposure() -> None:
    """systemd-analyze verify finds nothing but the absent executable; security
    --offline=yes rates the exposure 0.8 or better."""
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    problems = [
        line
        for line in verify.stderr.splitlines()
        if "csv-import-daemon.service" in line and "is not executable" not in line
    ]
    assert problems == []
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = re.search(r"Overall exposure level for .*: (\d+\.\d+)", security.stdout)
    assert found is not None, security.stdout[-500:] + security.stderr[-500:]
    assert float(found[1]) <= 0.8
