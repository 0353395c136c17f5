"""The database URL: checked once at start, masked wherever it is shown, and the password
kept off the command line.

A password belongs in a file, not in ``--database`` (visible to every user in ``ps``) nor
in a world-readable ``config.toml``: ``$CSV_IMPORT_DATABASE_PASSWORD_FILE`` names one, or
systemd's ``LoadCredential=database_password:...`` puts one in
``$CREDENTIALS_DIRECTORY``. Every URL the product prints goes through ``masked_url``:
the password of the user part and any ``password=`` style query value become ``***``,
whatever the URL's shape, parseable or not.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from csv_import_daemon.errors import ConfigError

PASSWORD_FILE_ENV = "CSV_IMPORT_DATABASE_PASSWORD_FILE"
CREDENTIAL_NAME = "database_password"  # LoadCredential=database_password:/etc/...
_USE = "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
# userinfo of an authority (scheme://user:secret@host): the whole of it, when unparsed.
_USERINFO = re.compile(r"(//)[^/?#\s]*@")
# query values whose name says secret (password=, sslpassword=, passfile is a path: kept).
_ANY_USERINFO = re.compile(r"([a-z][a-z0-9+.-]*://)[^/?#\s@]*@", re.I)
_CONNINFO = re.compile(r"\b((?:ssl)?password)\s*=\s*('[^']*'|\S+)", re.I)
_SECRET_QUERY = re.compile(r"([?&;][^=&;#]*(?:password|passwd|pwd|secret|token)=)[^&;#]*", re.I)


def masked_url(url: Any) -> str:
    """``url`` (text or a SQLAlchemy URL) as it may be shown: no password in any part."""
    from sqlalchemy.engine import URL, make_url  # noqa: PLC0415 - config stays light
    from sqlalchemy.exc import ArgumentError  # noqa: PLC0415

    text = url if isinstance(url, str) else None
    try:
        parsed = make_url(url) if isinstance(url, str) else url
        if not isinstance(parsed, URL):
            raise ValueError(parsed)
        shown = parsed.render_as_string(hide_password=True)
    except (ArgumentError, ValueError, TypeError):
        shown = _USERINFO.sub(r"\1***@", text or "")
    return _SECRET_QUERY.sub(r"\1***", shown)


def masked_url_text(text: str) -> str:
    """Free text (a driver's message) with any URL's user part and any ``password=`` value,
    URL query or libpq ``key=value`` style, masked."""
    text = _ANY_USERINFO.sub(r"\1***@", text)
    text = _SECRET_QUERY.sub(r"\1***", text)
    return _CONNINFO.sub(r"\1=***", text)


def check_database_url(url: str) -> None:
    """ConfigError (with the URL masked) unless ``url`` is a usable SQLite or PostgreSQL URL:
    parseable, a numeric port in range, and no host for SQLite (``sqlite://relative`` reads
    ``relative`` as a host; a file needs three slashes)."""
    from sqlalchemy.engine import make_url  # noqa: PLC0415
    from sqlalchemy.exc import ArgumentError  # noqa: PLC0415

    shown = masked_url(url)
    try:
        parsed = make_url(url)
        port = parsed.port
    except (ArgumentError, ValueError):
        raise ConfigError(
            f"database_url: {shown!r} is not a database URL (a port must be a number); {_USE}"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"database_url: {shown!r} is not supported; {_USE}")
    if port is not None and not 0 < port < 65536:
        raise ConfigError(f"database_url: port {port} is out of range (1-65535); {_USE}")
    if backend == "sqlite" and (parsed.host or port or parsed.username or parsed.password):
        raise ConfigError(
            f"database_url: {shown!r} names a host, which SQLite does not have; a file "
            "needs three slashes: sqlite:///relative/path.db or sqlite:////absolute/path.db"
        )


def password_from(environ: Mapping[str, str]) -> str | None:
    """The database password from ``$CSV_IMPORT_DATABASE_PASSWORD_FILE``, else from
    systemd's credential ``database_password``; None when neither is set."""
    named = environ.get(PASSWORD_FILE_ENV, "")
    if named:
        return _read_password(Path(named), PASSWORD_FILE_ENV)
    folder = environ.get("CREDENTIALS_DIRECTORY", "")
    if folder and os.path.isfile(os.path.join(folder, CREDENTIAL_NAME)):
        return _read_password(Path(folder) / CREDENTIAL_NAME, "LoadCredential=")
    return None


def _read_password(path: Path, source: str) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ConfigError(f"{source}: cannot read the database password file: {reason}") from None
    password = text.rstrip("\r\n")  # the newline an editor or echo adds is not part of it
    if not password:
        raise ConfigError(f"{source}: the database password file is empty")
    return password
