"""The real daemon, ``python -m csv_import_daemon run``, as a subprocess.

JSON logs go to a file, ``NOTIFY_SOCKET`` points at a ``NotifyListener``; ``wait_idle``
waits on the daemon's own ``STATUS=`` lines instead of polling the database.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from .notify import NotifyListener
from .processes import CLI, clean_env
from .waiting import DEFAULT_TIMEOUT, wait_for

# What ImporterThread.describe() says when it has nothing to do.
_IDLE = re.compile(
    r"^idle; (?P<imports>\d+) imports, (?P<rows>\d+) new rows since start; "
    r"(?P<waiting>\d+) files waiting$"
)


@dataclass(frozen=True)
class Idle:
    """An idle ``STATUS=``: counts since the daemon started, and its message index."""

    imports: int
    rows: int
    index: int


class DaemonProcess:
    """``csv-import-daemon run`` in a subprocess; use as a context manager."""

    def __init__(
        self,
        watch: Path,
        database_url: str,
        *args: str,
        settle: float | None = 0.3,
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
        """The command line; ``settle=None`` leaves the daemon's default (the benchmarks)."""
        settle = [] if self.settle is None else ["--settle", str(self.settle)]
        return [
            *CLI,
            "run",
            "--watch",
            str(self.watch),
            "--database",
            self.database_url,
            *settle,
            "--log-format",
            "json",
            "--source-timezone",
            "UTC",
            "--instance-name",
            "test-host",
            *self.args,
        ]

    def start(self) -> DaemonProcess:
        env = clean_env(
            {"NOTIFY_SOCKET": self.notify.address, "PYTHONUNBUFFERED": "1", **self.extra_env}
        )
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command(), stdout=subprocess.DEVNULL, stderr=log, env=env
            )
        return self

    def _died(self, waiting_for: str) -> None:
        if self.returncode is not None:
            raise AssertionError(
                f"daemon exited with {self.returncode} before {waiting_for}:\n{self.log_text()}"
            )

    def wait_ready(self, timeout: float = 30.0) -> dict[str, str]:
        """Block until READY=1; fail early with the log if the daemon died instead."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.notify.wait_for("READY", "1", timeout=0.2)
            except AssertionError:
                self._died("READY=1")
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"no READY=1 within {timeout} s:\n{self.log_text()}"
                    ) from None

    def wait_idle(
        self,
        *,
        imports: int | None = None,
        rows: int | None = None,
        after: int = 0,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Idle:
        """Until the daemon reports itself idle with no file waiting, having made at least
        ``imports`` imports and ``rows`` new rows since it started, in a STATUS= received
        from message index ``after`` on (``notify.mark()`` taken before the action).

        Race-free with a count: the counts only grow, and the daemon says "idle; 0 files
        waiting" only when nothing is queued or waiting on a timer; it sends STATUS= when
        the line changes, so an idle line after new work always differs from the one
        before. With neither count, only ``after`` orders it: use that when no earlier
        work can still be in flight.
        """

        def idle() -> Idle | None:
            for i in range(after, len(self.notify.messages)):
                m = _IDLE.match(self.notify.messages[i].get("STATUS", ""))
                if (
                    m is not None
                    and int(m["waiting"]) == 0
                    and int(m["imports"]) >= (imports or 0)
                    and int(m["rows"]) >= (rows or 0)
                ):
                    return Idle(int(m["imports"]), int(m["rows"]), i)
            self._died("going idle")
            return None

        found = wait_for(
            idle,
            lambda v: v is not None,
            timeout,
            what=f"an idle STATUS= with imports >= {imports}, rows >= {rows} (from #{after})",
        )
        assert found is not None
        return found

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

    def stop_cleanly(self, timeout: float = 30.0) -> None:
        """SIGTERM, exit 0 (else the log's tail in the failure), every log line JSON."""
        assert self.stop(timeout) == 0, self.log_text()[-3000:]
        self.events()

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
