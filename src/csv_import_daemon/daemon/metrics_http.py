"""The ``/metrics`` and ``/healthz`` HTTP server: one asyncio loop in one daemon thread.

It only reads the ``Metrics`` object: a scrape never queries the database and never waits
for the importer. Whatever a client sends, what it can hold is bounded: a request head of
at most ``HEAD_MAX`` bytes (431 beyond), ``READ_TIMEOUT`` seconds to send it and as long
to take the answer, at most ``MAX_CONNECTIONS`` connections at once (more are closed at
once), one request per connection. A stock ``ThreadingHTTPServer`` gave each connection a
thread, no deadline and about 6 MB of headers; the standard library's asyncio serves two
read-only endpoints in one thread with these bounds, so no server library is needed.
A non-loopback address is allowed (Prometheus on another host) but logged at start, since
anyone who can reach it can read the daemon's counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import socket
import threading
from typing import Any

from csv_import_daemon.config.address import parse_metrics_address
from csv_import_daemon.daemon.metrics import Metrics
from csv_import_daemon.errors import ConfigError
from csv_import_daemon.logs import get_logger

log = get_logger(__name__)

HEAD_MAX = 8 * 1024  # request line and headers; a scraper sends a few hundred bytes
READ_TIMEOUT = 5.0  # seconds to send the head, and again to read the answer
ACCEPT_BATCH = 16  # connections taken off the listen queue per round
MAX_CONNECTIONS = 32  # scrapers and health probes; beyond that, abuse
LINGER_BYTES = 64 * 1024  # read after a refusal so the client sees it (not a reset)
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


class _Server:
    """The connection handler and its count, owned by the loop's thread."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.open = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.open >= MAX_CONNECTIONS:
            writer.transport.abort()  # at once: an excess connection holds nothing
            return
        self.open += 1
        try:
            await self._serve(reader, writer)
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            pass  # a client that hangs up or stalls is routine
        except Exception:
            log.debug("metrics_request_failed", exc_info=True)
        finally:
            self.open -= 1
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
        except asyncio.LimitOverrunError:
            await _refuse(reader, writer, 431, "request head over 8 KiB")
            return
        except TimeoutError:
            await _refuse(reader, writer, 408, "request head not sent in time")
            return
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            await _refuse(reader, writer, 400, "not an HTTP/1 request line")
            return
        method, target = parts[0], parts[1].split(b"?", 1)[0]
        if method not in (b"GET", b"HEAD"):
            await _refuse(reader, writer, 405, "only GET")
            return
        code, body, content_type = self._answer(target)
        writer.write(_response(code, body, content_type, with_body=method == b"GET"))
        writer.close()  # flushes what is buffered; the deadline bounds a client not reading
        await asyncio.wait_for(writer.wait_closed(), READ_TIMEOUT)

    def _answer(self, target: bytes) -> tuple[int, bytes, str]:
        if target == b"/metrics":
            body, content_type = self.metrics.exposition()
            return 200, body, content_type
        if target == b"/healthz":
            healthy, report = self.metrics.health()
            return (200 if healthy else 503), _json(report), "application/json"
        return 404, _json({"error": "not found; try /metrics or /healthz"}), "application/json"


async def _refuse(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, code: int, why: str
) -> None:
    writer.write(_response(code, _json({"error": why}), "application/json", with_body=True))
    await asyncio.wait_for(writer.drain(), READ_TIMEOUT)
    writer.write_eof()
    # Closing with unread input resets the connection, which can drop the answer before
    # the client reads it: take a bounded amount more, for a bounded time, first.
    with contextlib.suppress(OSError, TimeoutError, asyncio.IncompleteReadError):
        taken = 0
        async with asyncio.timeout(1.0):
            while taken < LINGER_BYTES and (data := await reader.read(HEAD_MAX)):
                taken += len(data)


def _response(code: int, body: bytes, content_type: str, *, with_body: bool) -> bytes:
    head = (
        f"HTTP/1.1 {code} {_REASONS[code]}\r\n"
        "Server: csv-import-daemon\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n\r\n"
    ).encode("ascii")
    return head + body if with_body else head


def _json(data: dict[str, Any]) -> bytes:
    return (json.dumps(data) + "\n").encode()


class MetricsServer:
    """Serves ``metrics`` on ``address`` (``HOST:PORT``) until ``close()``."""

    def __init__(self, metrics: Metrics, address: str) -> None:
        host, port, shown = parse_metrics_address(address)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise ConfigError(f"metrics_address: cannot resolve {host!r}: {exc.strerror}") from None
        family, _, _, _, sockaddr = infos[0]
        bind_host = str(sockaddr[0])
        try:
            # Bound here, not in the thread: a taken port is a configuration error (exit 2).
            self.sock = socket.create_server(sockaddr, family=family, backlog=ACCEPT_BATCH)
        except OSError as exc:
            raise ConfigError(
                f"metrics_address: cannot listen on {shown}: {exc.strerror or exc}; "
                "choose a free port or leave metrics_address unset"
            ) from None
        self.sock.setblocking(False)
        self.address = shown
        self.port = int(self.sock.getsockname()[1])
        self.loopback = _is_loopback(bind_host)
        self._handler = _Server(metrics)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="metrics-http", daemon=True)

    def _run(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(
            # backlog: connections accepted per round before their handlers run (and close
            # the excess); it bounds the descriptors a flood holds at any moment.
            asyncio.start_server(
                self._handler.handle, sock=self.sock, limit=HEAD_MAX, backlog=ACCEPT_BATCH
            )
        )
        try:
            loop.run_forever()
        finally:
            server.close()
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    def start(self) -> None:
        self._thread.start()
        log.info("metrics_listening", address=self.address, endpoints=["/metrics", "/healthz"])
        if not self.loopback:
            log.warning(
                "metrics_not_loopback",
                address=self.address,
                hint="anyone who can reach this address reads the counts; restrict it "
                "with a firewall or IPAddressAllow=",
            )

    def close(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5.0)
        elif not self._loop.is_closed():
            self._loop.close()
        self.sock.close()


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False
