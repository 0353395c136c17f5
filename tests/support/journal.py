"""A read-only view of the database the daemon writes (SQLite or PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'journal.sqlite3'}"


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

    def offset(self, path: Path) -> int | None:
        """Where the checkpoint of ``path`` stands, or None without one."""
        cp = self.checkpoint(path)
        return None if cp is None else int(cp["offset"])

    def close(self) -> None:
        self.engine.dispose()
