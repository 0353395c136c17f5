"""The metrics server under abuse, through the real daemon subprocess on 127.0.0.1: large
request heads and idle connections cost bounded memory and file descriptors, /healthz
keeps answering and imports go on."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from support.daemon import DaemonProcess, start_daemon
from support.journal import Journal, sqlite_url
from support.rows import make_rows, write_csv
from support.waiting import wait_for

# Every test here starts the daemon subprocess or a real observer.
pytestmark = pytest.mark.daemon

MIB = 1 << 20
# The unit's LimitNOFILE=: the daemon runs under it here too.
NOFILE = 256
_LIMITED = (
    "import os, resource, sys; "
    f"resource.setrlimit(resource.RLIMIT_NOFILE, ({NOFILE}, {NOFILE})); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


class LimitedDaemon(DaemonProcess):
    """The daemon under RLIMIT_NOFILE=NOFILE, as systemd's LimitNOFILE= would start it."""

    def command(self) -> list[str]:
        return [sys.executable, "-c", _LIMITED, *super().command()]


@pytest.fixture
def watch(tmp_path: Path) -> Path:
    folder = tmp_path / "watch"
    folder.mkdir()
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthz(port: int, timeout: float) -> int:
    """The /healthz status code, the whole exchange within ``timeout`` seconds."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return int(data.split(b" ", 2)[1])


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def big_head_sender(port: int, started: threading.Barrier, sent: list[int]) -> None:
    """One request whose head is 100 headers of 60 KB (6 MB), sent as fast as accepted."""
    header = b"X-Pad: " + b"a" * 60_000 + b"\r\n"
    total = 0
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\n")
            started.wait(10)
            for _ in range(100):
                s.sendall(header)
                total += len(header)
            s.sendall(b"\r\n")
            s.recv(4096)
    except OSError:
        pass  # refused part-way (431, then closed): what a bounded server does
    sent.append(total)


def test_large_request_heads_keep_memory_flat_and_healthz_answering(
    watch: Path, tmp_path: Path
) -> None:
    """20 connections each sending a 6 MB request head: the daemon's peak RSS stays under
    200 MiB, /healthz answers within 2 s meanwhile, and a head over 8 KiB is a 431."""
    url = sqlite_url(tmp_path)
    port = free_port()
    with start_daemon(watch, url, "--metrics-address", f"127.0.0.1:{port}") as d:
        assert healthz(port, 2.0) == 200
        started = threading.Barrier(21)
        sent: list[int] = []
        threads = [
            threading.Thread(target=big_head_sender, args=(port, started, sent), daemon=True)
            for _ in range(20)
        ]
        for t in threads:
            t.start()
        started.wait(10)
        assert healthz(port, 2.0) == 200  # while the 20 send
        for t in threads:
            t.join(30)
        assert len(sent) == 20
        assert healthz(port, 2.0) == 200
        peak = peak_rss(d.pid)
        assert peak < 200 * MIB, f"peak RSS {peak / MIB:.0f} MiB"
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nX-Pad: " + b"a" * 9000 + b"\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 431 ")
        assert d.stop() == 0, d.log_text()[-3000:]


@pytest.fixture
def idle_connections() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def test_300_idle_connections_do_not_stop_an_import(
    watch: Path, tmp_path: Path, idle_connections: ExitStack
) -> None:
    """300 connections opened and left idle, the daemon under the unit's LimitNOFILE=: a
    file dropped meanwhile is imported, and /healthz still answers."""
    url = sqlite_url(tmp_path)
    port = free_port()
    journal = Journal(url)
    try:
        with LimitedDaemon(watch, url, "--metrics-address", f"127.0.0.1:{port}") as d:
            d.wait_ready()
            for _ in range(300):
                s = idle_connections.enter_context(
                    socket.create_connection(("127.0.0.1", port), timeout=5)
                )
                assert s is not None
            write_csv(watch / "during.csv", make_rows(30))
            wait_for(journal.trades, 30, timeout=30, what="the file's 30 rows")
            d.wait_idle(imports=1)
            assert not d.events("import_crashed")
            assert not d.events("file_unreadable")
            idle_connections.close()
            wait_for(lambda: healthz(port, 2.0), 200, what="/healthz after the idle ones")
            assert d.stop() == 0, d.log_text()[-3000:]
    finally:
        journal.close()
