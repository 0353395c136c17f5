"""The systemd notify protocol with the standard library: one datagram per message.

``$NOTIFY_SOCKET`` names an AF_UNIX datagram socket (a leading ``@`` means the abstract
namespace). Without it every call is a no-op, so the daemon runs the same way under systemd,
in a terminal and in tests (which bind their own socket and set the variable).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from csv_import_daemon.logs import get_logger

log = get_logger(__name__)


def socket_address(environ: Mapping[str, str]) -> str | None:
    """The address to send to, or None when not run under a notify-aware supervisor."""
    raw = environ.get("NOTIFY_SOCKET", "")
    if raw.startswith("@"):
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    return None  # unset, or a transport we do not speak (vsock:)


def watchdog_interval(environ: Mapping[str, str], pid: int | None = None) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings: half of ``$WATCHDOG_USEC``; None when off.

    ``$WATCHDOG_PID``, when set, names the process meant to ping; another process is not.
    """
    usec = environ.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    target = environ.get("WATCHDOG_PID", "")
    if target and target != str(pid if pid is not None else os.getpid()):
        return None
    return int(usec) / 2 / 1_000_000


class Notifier:
    """Sends ``KEY=value`` lines to the supervisor; never raises."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        self._sock: socket.socket | None = None
        self._warned = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        return cls(socket_address(os.environ if environ is None else environ))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """Send the lines as one datagram; False when disabled or the send failed."""
        if self.address is None or not lines:
            return False
        payload = "\n".join(lines).encode("utf-8", "replace")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            # Never block the main loop: a supervisor that stopped reading loses a message,
            # the daemon keeps running (and systemd's watchdog notices a real hang).
            self._sock.sendto(payload, socket.MSG_DONTWAIT, self.address)
        except OSError as exc:
            if not self._warned:  # once: a lost supervisor must not flood the log
                log.warning("notify_failed", error=str(exc))
                self._warned = True
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *([_status_line(status)] if status else []))

    def status(self, text: str) -> bool:
        return self.send(_status_line(text))

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.send("STOPPING=1", *([_status_line(status)] if status else []))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _status_line(text: str) -> str:
    # One line: a newline would start a new KEY=value assignment.
    return "STATUS=" + " ".join(text.split())
