"""The ``/metrics`` and ``/healthz`` HTTP server, in its own daemon threads.

It only reads the ``Metrics`` object: a scrape never queries the database and never waits
for the importer. A non-loopback address is allowed (Prometheus on another host) but
logged at start, since anyone who can reach it can read the daemon's counts.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from csv_import_daemon.config.address import parse_metrics_address
from csv_import_daemon.daemon.metrics import Metrics
from csv_import_daemon.errors import ConfigError
from csv_import_daemon.logs import get_logger

log = get_logger(__name__)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a slow scraper never holds up shutdown
    metrics: Metrics

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The base prints a traceback to stderr, which must carry JSON events only; a
        # scraper hanging up mid-response is routine.
        log.debug("metrics_request_failed", exc_info=True)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "csv-import-daemon"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            body, content_type = self.server.metrics.exposition()
            self._send(200, body, content_type)
        elif path == "/healthz":
            healthy, report = self.server.metrics.health()
            self._send(200 if healthy else 503, _json(report), "application/json")
        else:
            self._send(
                404, _json({"error": "not found; try /metrics or /healthz"}), "application/json"
            )

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a scrape every 15 s is not worth a log line (nor on stderr as plain text)


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
        server_class = _Server6 if family == socket.AF_INET6 else _Server
        bind_host = str(sockaddr[0])
        try:
            self.server = server_class((bind_host, port), _Handler)
        except OSError as exc:
            raise ConfigError(
                f"metrics_address: cannot listen on {shown}: {exc.strerror or exc}; "
                "choose a free port or leave metrics_address unset"
            ) from None
        self.server.metrics = metrics
        self.address = shown
        self.port = int(self.server.server_address[1])
        self.loopback = _is_loopback(bind_host)
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.5}, name="metrics-http"
        )
        self._thread.daemon = True

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
            self.server.shutdown()
        self.server.server_close()


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False
