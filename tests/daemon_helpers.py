"""Helpers for tests that run the real daemon as a subprocess.

- ``DaemonProcess`` starts ``python -m csv_import_daemon run`` on a folder with JSON logs
  captured to a file and ``NOTIFY_SOCKET`` pointing at a ``NotifyListener``.
- ``wait_for`` polls a query every 50 ms until it returns what is expected or a deadline
  passes; ``assert_stays`` checks that a value does not change for a while.
- ``Journal`` reads the database the daemon writes (SQLite or PostgreSQL).
- ``make_rows`` / ``write_csv`` generate NinjaTrader execution rows with unique IDs.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, text

T = TypeVar("T")

HEADER = (
    "Instrument,Action,Quantity,Price,Time,ID,E/X,Position,Order ID,Name,Commission,"
    "Rate,Account,Connection,"
)
DEFAULT_TIMEOUT = 20.0
POLL = 0.05
BASE_TIME = datetime(2025, 10, 31, 9, 30, 0)


# -- waiting -------------------------------------------------------------------------------


def wait_for(
    fn: Callable[[], T],
    expected: T | Callable[[T], bool],
    timeout: float = DEFAULT_TIMEOUT,
    what: str = "",
) -> T:
    """Poll ``fn`` every 50 ms until it equals ``expected`` (or satisfies it); return it."""
    check: Callable[[T], bool] = (
        expected if callable(expected) else (lambda v: v == expected)  # type: ignore[assignment]
    )
    deadline = time.monotonic() + timeout
    value = fn()
    while not check(value):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {what or fn}: "
                f"last value {value!r}, expected {expected!r}"
            )
        time.sleep(POLL)
        value = fn()
    return value


def assert_stays(fn: Callable[[], T], expected: T, duration: float, what: str = "") -> None:
    """``fn`` keeps returning ``expected`` for ``duration`` seconds (polled every 50 ms)."""
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        value = fn()
        assert value == expected, f"{what or fn} changed to {value!r}, expected {expected!r}"
        time.sleep(POLL)


# -- rows ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    execution_id: str
    line: str  # without newline


def _clock(dt: datetime) -> str:
    hour = dt.hour % 12 or 12
    return (
        f"{dt.month}/{dt.day}/{dt.year} {hour}:{dt.minute:02}:{dt.second:02} "
        f"{'AM' if dt.hour < 12 else 'PM'}"
    )


def make_row(index: int, execution_id: str | None = None) -> Row:
    """One execution row; IDs are 32 hex digits like NinjaTrader's."""
    eid = execution_id or uuid.uuid4().hex
    when = BASE_TIME + timedelta(seconds=index)
    action = "Buy" if index % 2 == 0 else "Sell"
    price = 21000 + (index % 400) * 0.25
    line = (
        f"MNQ 12-25,{action},1,{price:.2f},{_clock(when)},{eid},Entry,1 L,"
        f"{uuid.uuid4().hex},Entry,$0.52,1,SIM101,Simulated Data Feed,"
    )
    return Row(eid, line)


def make_rows(count: int, start: int = 0) -> list[Row]:
    return [make_row(start + i) for i in range(count)]


def csv_text(rows: Iterable[Row], header: bool = True) -> str:
    lines = ([HEADER] if header else []) + [r.line for r in rows]
    return "".join(line + "\n" for line in lines)


def write_csv(path: Path, rows: Iterable[Row]) -> Path:
    """Write header and rows in one go (a new file, or replacing the content in place)."""
    path.write_text(csv_text(rows), encoding="utf-8")
    return path


def append(path: Path, text_: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(text_)


# -- the database --------------------------------------------------------------------------


class Journal:
    """Read-only view of the daemon's database for assertions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url)

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(sql), params)]

    def trades(self) -> int:
        return int(self.scalar("SELECT count(*) FROM trades") or 0)

    def ledger(self) -> int:
        return int(self.scalar("SELECT count(*) FROM imported_executions") or 0)

    def ids(self) -> set[str]:
        return {r["execution_id"] for r in self.rows("SELECT execution_id FROM trades")}

    def checkpoint(self, path: Path) -> dict[str, Any] | None:
        found = self.rows("SELECT * FROM import_files WHERE path = :p", p=str(path))
        return found[0] if found else None

    def close(self) -> None:
        self.engine.dispose()


# -- notify --------------------------------------------------------------------------------


class NotifyListener:
    """A datagram socket in the abstract namespace, standing in for systemd.

    A thread reads it all the time, as systemd does: an unread socket fills after a few
    datagrams and the daemon's messages would be dropped.
    """

    def __init__(self) -> None:
        self.address = f"@csv-import-daemon-test-{uuid.uuid4().hex}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.address[1:])
        self.sock.settimeout(0.1)
        self.messages: list[dict[str, str]] = []
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
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            with self._cond:
                self.messages.append(fields)
                self._cond.notify_all()

    def wait_for(
        self,
        key: str,
        value: str | Callable[[str], bool] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> dict[str, str]:
        """The first message (received already or within ``timeout``) with ``key`` whose
        value is ``value`` (or satisfies it, or anything when None)."""

        def match() -> dict[str, str] | None:
            for msg in self.messages:
                if key in msg and (
                    value is None or (value(msg[key]) if callable(value) else msg[key] == value)
                ):
                    return msg
            return None

        with self._cond:
            if not self._cond.wait_for(lambda: match() is not None, timeout):
                raise AssertionError(
                    f"no notify message with {key}={value or '*'} within "
                    f"{timeout} s; got {self.messages!r}"
                )
            found = match()
            assert found is not None
            return found

    def count(self, key: str, value: str | None = None) -> int:
        with self._cond:
            return sum(1 for m in self.messages if key in m and (value is None or m[key] == value))

    def close(self) -> None:
        self._closed = True
        self._thread.join(5)
        self.sock.close()


# -- the daemon ----------------------------------------------------------------------------


class DaemonProcess:
    """``csv-import-daemon run`` in a subprocess; use as a context manager."""

    def __init__(
        self,
        watch: Path,
        database_url: str,
        *args: str,
        settle: float = 0.3,
        log_dir: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.watch = watch
        self.database_url = database_url
        self.args = list(args)
        self.settle = settle
        self.log_path = (log_dir or watch.parent) / f"daemon-{uuid.uuid4().hex[:8]}.log"
        self.extra_env = env or {}
        self.notify = NotifyListener()
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "csv_import_daemon",
            "run",
            "--watch",
            str(self.watch),
            "--database",
            self.database_url,
            "--settle",
            str(self.settle),
            "--log-format",
            "json",
            "--source-timezone",
            "UTC",
            "--instance-name",
            "test-host",
            *self.args,
        ]

    def start(self) -> DaemonProcess:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CSV_IMPORT_", "WATCHDOG_", "NOTIFY_SOCKET"))
        }
        env.update(
            {
                "NOTIFY_SOCKET": self.notify.address,
                "PYTHONUNBUFFERED": "1",
                # No user configuration file is discovered unless a test puts one there.
                "XDG_CONFIG_HOME": str(self.watch.parent / "no-user-config"),
                **self.extra_env,
            }
        )
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command(), stdout=subprocess.DEVNULL, stderr=log, env=env
            )
        return self

    def wait_ready(self, timeout: float = 30.0) -> dict[str, str]:
        """Block until READY=1; fail early with the log if the daemon died instead."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.notify.wait_for("READY", "1", timeout=0.2)
            except AssertionError:
                if self.returncode is not None:
                    raise AssertionError(
                        f"daemon exited with {self.returncode} before READY=1:\n{self.log_text()}"
                    ) from None
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"no READY=1 within {timeout} s:\n{self.log_text()}"
                    ) from None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        assert self.proc is not None
        return self.proc.poll()

    def send(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float = 10.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait; the exit code."""
        if self.returncode is None:
            self.send(signal.SIGTERM)
        return self.wait_exit(timeout)

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """Every JSON log event so far (optionally only ``name``); non-JSON output fails."""
        out = []
        for line in self.log_text().splitlines():
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                raise AssertionError(f"unstructured output from the daemon: {line!r}") from None
            if name is None or event.get("event") == name:
                out.append(event)
        return out

    def wait_event(
        self,
        name: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> dict[str, Any]:
        found = wait_for(
            lambda: [e for e in self.events(name) if predicate is None or predicate(e)],
            bool,
            timeout,
            what=f"log event {name!r}",
        )
        return found[0]

    def __enter__(self) -> DaemonProcess:
        return self.start() if self.proc is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.notify.close()


def start_daemon(watch: Path, database_url: str, *args: str, **kwargs: Any) -> DaemonProcess:
    """Start a daemon and wait for READY=1 (stop it with ``.stop()`` or a ``with`` block)."""
    daemon = DaemonProcess(watch, database_url, *args, **kwargs).start()
    try:
        daemon.wait_ready()
    except BaseException:
        daemon.__exit__(None, None, None)
        raise
    return daemon


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'journal.sqlite3'}"


def ids_of(rows: Sequence[Row]) -> set[str]:
    return {r.execution_id for r in rows}
