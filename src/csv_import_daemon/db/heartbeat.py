"""The daemon's heartbeat in ``daemon_instances``: how ``status`` tells a daemon is running.

Written only by the importer thread (the one database writer), at most every ``every``
seconds: while it imports, inside the import's own transaction just before that commits
(``write_in``); between imports, in a transaction of its own (``beat``). Never on a second
connection while an import holds SQLite's write lock, where it would wait out the lock
timeout and stall the import behind it. A daemon counts as running while its
last beat is younger than ``STALE_AFTER`` and it has not recorded a clean stop; the row lives
in the database, so this works for daemons on other hosts too.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, inspect, select

from csv_import_daemon import __version__
from csv_import_daemon.db.engine import writing
from csv_import_daemon.db.models import utc_now
from csv_import_daemon.db.tables import INSTANCES

HEARTBEAT_SECONDS = 30.0
STALE_AFTER = timedelta(seconds=3 * HEARTBEAT_SECONDS)


@dataclass(frozen=True, slots=True)
class Identity:
    """What a daemon records about itself when it starts."""

    instance: str
    config_file: str | None
    watch_dir: str | None


class Heartbeat:
    """Beats for one daemon instance; call ``beat()`` as often as convenient."""

    def __init__(self, engine: Engine, identity: Identity, *, every: float = HEARTBEAT_SECONDS):
        self.engine = engine
        self.identity = identity
        self.every = every
        self.started = utc_now()
        self._last: datetime | None = None

    def due_in(self) -> float:
        """Seconds until the next beat is due (0 when it is due now)."""
        if self._last is None:
            return 0.0
        return max(0.0, self.every - (utc_now() - self._last).total_seconds())

    def beat(self, *, force: bool = False) -> bool:
        """Write the heartbeat if one is due, in a transaction of its own; True when written."""
        if not force and self.due_in() > 0:
            return False
        now = utc_now()
        with writing(self.engine) as conn:
            self._write(conn, heartbeat_at=now, stopped_at=None)
        self._last = now
        return True

    def write_in(self, conn: Connection) -> datetime | None:
        """Write the heartbeat in the caller's open transaction if one is due; the time
        written, to hand to ``written`` once that transaction has committed (None: not due)."""
        if self.due_in() > 0:
            return None
        now = utc_now()
        self._write(conn, heartbeat_at=now, stopped_at=None)
        return now

    def written(self, at: datetime | None) -> None:
        """The transaction holding the beat ``write_in`` returned has committed."""
        if at is not None:
            self._last = at

    def stopped(self) -> None:
        """Record a clean stop, so ``status`` says "stopped" at once."""
        now = utc_now()
        with writing(self.engine) as conn:
            self._write(conn, heartbeat_at=now, stopped_at=now)

    def _write(self, conn: Connection, **values: Any) -> None:
        row = {
            "instance": self.identity.instance,
            "host": socket.gethostname()[:255],
            "pid": os.getpid(),
            "version": __version__,
            "config_file": self.identity.config_file,
            "watch_dir": self.identity.watch_dir,
            "started_at": self.started,
            **values,
        }
        # Imported here: `status` reads this module and should not load PostgreSQL's dialect.
        if self.engine.dialect.name == "sqlite":
            from sqlalchemy.dialects import sqlite as dialect  # noqa: PLC0415
        else:
            from sqlalchemy.dialects import postgresql as dialect  # type: ignore[no-redef]  # noqa: PLC0415
        stmt = dialect.insert(INSTANCES).values(**row)
        update = {k: stmt.excluded[k] for k in row if k != "instance"}
        conn.execute(stmt.on_conflict_do_update(index_elements=["instance"], set_=update))


def daemons(conn: Connection, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every daemon that ever beat in this database, running ones first."""
    if not inspect(conn).has_table(INSTANCES.name):
        return []
    now = now or utc_now()
    out = []
    for r in conn.execute(select(INSTANCES).order_by(INSTANCES.c.instance)).mappings():
        running = r["stopped_at"] is None and now - r["heartbeat_at"] < STALE_AFTER
        out.append(
            {
                "instance": r["instance"],
                "running": running,
                "host": r["host"],
                "pid": r["pid"],
                "version": r["version"],
                "config_file": r["config_file"],
                "watch_dir": r["watch_dir"],
                "started_at": _iso(r["started_at"]),
                "heartbeat_at": _iso(r["heartbeat_at"]),
                "stopped_at": _iso(r["stopped_at"]),
            }
        )
    out.sort(key=lambda d: not d["running"])
    return out


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat() + "Z"
