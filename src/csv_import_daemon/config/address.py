"""``HOST:PORT`` settings (the metrics server's address), validated with what is allowed."""

from __future__ import annotations

import ipaddress
import re

from csv_import_daemon.errors import ConfigError

_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME_RE = re.compile(rf"{_LABEL}(\.{_LABEL})*")


def parse_metrics_address(value: str, where: str = "metrics_address") -> tuple[str, int, str]:
    """``HOST:PORT`` (``[IPv6]:PORT`` for an IPv6 address) -> (host, port, canonical text)."""
    allowed = "use HOST:PORT, for example 127.0.0.1:9108, [::1]:9108 or localhost:9108"
    host, sep, port_text = value.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        valid_host = ":" in host and _is_ip(host)
    else:
        valid_host = ":" not in host and (_is_ip(host) or bool(_HOSTNAME_RE.fullmatch(host)))
    if not sep or not host or not valid_host:
        raise ConfigError(f"{where}: {value!r} is not a host and port; {allowed}")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ConfigError(f"{where}: port {port_text!r} is not a number from 1 to 65535; {allowed}")
    shown = f"[{host}]" if ":" in host else host
    return host, int(port_text), f"{shown}:{int(port_text)}"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
