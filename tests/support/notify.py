"""A NOTIFY_SOCKET listener standing in for systemd."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable

from .waiting import DEFAULT_TIMEOUT

Matcher = str | Callable[[str], bool] | None


def _matches(msg: dict[str, str], key: str, value: Matcher) -> bool:
    if key not in msg:
        return False
    return value is None or (value(msg[key]) if callable(value) else msg[key] == value)


class NotifyListener:
    """A datagram socket in the abstract namespace (``address`` is what NOTIFY_SOCKET takes).

    A thread reads it all the time, as systemd does: an unread socket fills after a few
    datagrams and the daemon's messages would be dropped. Each message is kept as a dict
    of its ``KEY=value`` lines, with its arrival time (``time.perf_counter()``) beside it.
    """

    def __init__(self) -> None:
        self.address = f"@csv-import-daemon-test-{uuid.uuid4().hex}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.address[1:])
        self.sock.settimeout(0.1)
        self.messages: list[dict[str, str]] = []
        self.arrived: list[float] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._read, name="notify-listener", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._closed:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            at = time.perf_counter()
            text = data.decode(errors="replace")
            fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
            with self._cond:
                self.messages.append(fields)
                self.arrived.append(at)
                self._cond.notify_all()

    def mark(self) -> int:
        """The index the next message will have: ``wait_for(..., after=mark)`` then sees
        only what arrives from now on."""
        with self._cond:
            return len(self.messages)

    def find(self, key: str, value: Matcher = None, after: int = 0) -> int | None:
        """Index of the first message from ``after`` on with ``key`` matching ``value``."""
        with self._cond:
            return next(
                (
                    i
                    for i in range(after, len(self.messages))
                    if _matches(self.messages[i], key, value)
                ),
                None,
            )

    def wait_for(
        self,
        key: str,
        value: Matcher = None,
        timeout: float = DEFAULT_TIMEOUT,
        after: int = 0,
    ) -> dict[str, str]:
        """The first message (from index ``after``, received already or within ``timeout``)
        with ``key`` whose value is ``value`` (or satisfies it, or anything when None)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.find(key, value, after) is not None, timeout):
                raise AssertionError(
                    f"no notify message with {key}={value or '*'} within "
                    f"{timeout} s; got {self.messages!r}"
                )
            found = self.find(key, value, after)
            assert found is not None
            return self.messages[found]

    def arrival(self, key: str, value: Matcher = None) -> float | None:
        """When (``time.perf_counter()``) the first matching message arrived, or None."""
        found = self.find(key, value)
        return None if found is None else self.arrived[found]

    def count(self, key: str, value: str | None = None) -> int:
        with self._cond:
            return sum(1 for m in self.messages if _matches(m, key, value))

    def statuses(self) -> list[str]:
        """Every STATUS= so far, in order."""
        with self._cond:
            return [m["STATUS"] for m in self.messages if "STATUS" in m]

    def close(self) -> None:
        self._closed = True
        self._thread.join(5)
        self.sock.close()
