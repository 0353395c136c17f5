"""Write sessions: the heartbeat rides in the import's own transaction.

A beat written on a second connection while the import holds SQLite's write lock waits
out the lock timeout; here every statement is recorded with the connection that ran it,
and the beat must come from the connection that saved the checkpoint with the rows,
inside their transaction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, event, text

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db.heartbeat import Heartbeat, Identity
from csv_import_daemon.importing.result import ImportStatus
from csv_import_daemon.importing.service import ImportService
from support.rows import make_rows, write_csv


def _record(engine: Engine) -> list[tuple[str, Connection]]:
    """(table written, connection) for every checkpoint saved (in the transaction of the
    rows it vouches for; on PostgreSQL the rows go through the driver's own cursor, unseen
    here) and every heartbeat."""
    seen: list[tuple[str, Connection]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def record(conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        sql = " ".join(statement.upper().split())
        for table in ("IMPORT_FILES", "DAEMON_INSTANCES"):
            if f"INSERT INTO {table} " in sql:
                seen.append((table, conn))

    return seen


def _heartbeat(engine: Engine, settings: Settings) -> Heartbeat:
    identity = Identity(instance=settings.instance_name, config_file=None, watch_dir=None)
    return Heartbeat(engine, identity, every=0.0)  # due at every commit


def _beats(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(text("SELECT count(*) FROM daemon_instances")) or 0)


def test_a_file_session_beats_inside_the_files_transaction(
    tmp_path: Path, engine: Engine, settings: Settings
) -> None:
    """One file, its own transaction: the beat is written by the connection that wrote
    its rows (SQLite and PostgreSQL)."""
    service = ImportService(engine, settings, heartbeat=_heartbeat(engine, settings))
    path = write_csv(tmp_path / "a.csv", make_rows(3))
    seen = _record(engine)
    assert service.import_file(path).status == ImportStatus.IMPORTED
    writers = {id(conn) for _table, conn in seen}
    assert {table for table, _conn in seen} == {"IMPORT_FILES", "DAEMON_INSTANCES"}
    assert len(writers) == 1
    assert _beats(engine) == 1


def test_a_shared_session_beats_inside_its_transaction(
    tmp_path: Path, engine: Engine, settings: Settings
) -> None:
    """Small files sharing one transaction: the beat comes from that transaction, never
    from a second connection waiting on its write lock."""
    if engine.dialect.name != "sqlite":
        return  # PostgreSQL shares no transaction: the test above covers it
    service = ImportService(engine, settings, heartbeat=_heartbeat(engine, settings))
    paths = [write_csv(tmp_path / f"d{i}.csv", make_rows(2, 10 * i)) for i in range(4)]
    seen = _record(engine)
    results = dict(service.import_many(paths))
    assert [results[p].inserted for p in paths] == [2, 2, 2, 2]
    assert {table for table, _conn in seen} == {"IMPORT_FILES", "DAEMON_INSTANCES"}
    assert len({id(conn) for _table, conn in seen}) == 1
    assert service.commits.count == 1
    assert _beats(engine) == 1
