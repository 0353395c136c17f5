"""The systemd notify protocol: addresses, watchdog interval, datagrams on a test socket."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from csv_import_daemon.daemon.notify import Notifier, socket_address, watchdog_interval


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    """A datagram socket bound in the abstract namespace, as NOTIFY_SOCKET names it."""
    name = f"@cid-notify-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name[1:])
    sock.settimeout(5)
    yield name, sock
    sock.close()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("@abstract", "\0abstract"),
        ("/run/systemd/notify", "/run/systemd/notify"),
        ("", None),
        ("vsock:2:1234", None),
        ("relative/path", None),
    ],
)
def test_socket_address(value: str, expected: str | None) -> None:
    """'@' means the abstract namespace; absolute paths pass; anything else disables."""
    assert socket_address({"NOTIFY_SOCKET": value}) == expected


def test_socket_address_unset() -> None:
    """Without NOTIFY_SOCKET there is nothing to notify."""
    assert socket_address({}) is None


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    """WatchdogSec=30 arrives as WATCHDOG_USEC=30000000: ping every 15 s."""
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0


def test_watchdog_interval_respects_watchdog_pid() -> None:
    """A WATCHDOG_PID naming another process means this one must not ping."""
    env = {"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "42"}
    assert watchdog_interval(env, pid=42) == 0.5
    assert watchdog_interval(env, pid=43) is None


@pytest.mark.parametrize("usec", ["", "0", "abc"])
def test_watchdog_interval_off(usec: str) -> None:
    """No, zero or malformed WATCHDOG_USEC: no watchdog pings."""
    assert watchdog_interval({"WATCHDOG_USEC": usec}) is None


def test_messages_arrive_as_one_datagram_each(listener: tuple[str, socket.socket]) -> None:
    """READY=1 with STATUS=, WATCHDOG=1 and STOPPING=1 reach the socket as sent."""
    name, sock = listener
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": name})
    assert notifier.enabled
    assert notifier.ready("watching /x")
    assert sock.recv(4096) == b"READY=1\nSTATUS=watching /x"
    assert notifier.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert notifier.status("two\nlines")
    assert sock.recv(4096) == b"STATUS=two lines"
    assert notifier.stopping()
    assert sock.recv(4096) == b"STOPPING=1"
    notifier.close()


def test_path_socket(tmp_path: Path) -> None:
    """A NOTIFY_SOCKET that is a file-system path works too."""
    path = tmp_path / "n.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        notifier = Notifier.from_environ({"NOTIFY_SOCKET": str(path)})
        assert notifier.send("READY=1")
        assert sock.recv(4096) == b"READY=1"
        notifier.close()


def test_disabled_notifier_is_a_no_op() -> None:
    """Outside systemd every call quietly returns False."""
    notifier = Notifier.from_environ({})
    assert not notifier.enabled
    assert not notifier.ready()
    assert not notifier.watchdog()
    notifier.close()


def test_lost_socket_warns_once_and_never_raises(tmp_path: Path) -> None:
    """A vanished supervisor socket costs one warning, not an exception or a log flood."""
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    with capture_logs() as logs:
        assert not notifier.watchdog()
        assert not notifier.watchdog()
    assert [e["event"] for e in logs] == ["notify_failed"]
    notifier.close()
