"""Alembic driven from code, with the daemon's own engine (works from a wheel too)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, func, inspect, select, table, text

from csv_import_daemon.db.engine import writing
from csv_import_daemon.errors import ConfigError
from csv_import_daemon.logs import get_logger

log = get_logger(__name__)

HEAD = "head"
# Any fixed number: the PostgreSQL advisory lock that serializes migrations.
_MIGRATION_LOCK = 0x43534944  # "CSID"


def script_location() -> str:
    """The migrations folder: packaged inside a wheel, ``alembic/`` in a checkout."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "migrations", package.parent.parent / "alembic"):
        if (candidate / "env.py").is_file():
            return str(candidate)
    raise RuntimeError(f"no Alembic migrations found beside {package}")


def _config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", script_location())
    cfg.attributes["skip_logging_config"] = True
    return cfg


def _serialize(conn: Connection) -> None:
    """On PostgreSQL, one migration at a time: daemons starting together on a fresh database
    would otherwise all create the tables and all but one fail (SQLite's BEGIN IMMEDIATE
    already serializes them). Held until the migration's transaction ends; a waiter then
    finds the schema current and has nothing to do."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})


def upgrade(engine: Engine, revision: str = HEAD) -> None:
    cfg = _config(engine)
    with writing(engine) as conn:
        _serialize(conn)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str, *, allow_loss: bool = True) -> dict[str, int]:
    """Downgrade to ``revision``; returns the rows it removed per table.

    With ``allow_loss=False`` a downgrade that would drop or empty tables holding rows is
    rolled back whole (DDL is transactional on SQLite and PostgreSQL) and raises
    ``DataLossRefused`` naming them, so the decision rests on what it would really do.
    """
    cfg = _config(engine)
    with writing(engine) as conn:
        _serialize(conn)
        before = _row_counts(conn)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
        after = _row_counts(conn)
        lost = {t: n - after.get(t, 0) for t, n in before.items() if n > after.get(t, 0)}
        if lost and not allow_loss:
            raise DataLossRefused(revision, lost, dropped=set(before) - set(after))
    return lost


class DataLossRefused(ConfigError):
    """A downgrade would remove rows and was not confirmed; nothing was changed."""

    def __init__(self, revision: str, lost: dict[str, int], *, dropped: set[str]) -> None:
        what = ", ".join(
            f"{'drop' if t in dropped else 'delete from'} {t} ({n} rows)"
            for t, n in sorted(lost.items())
        )
        super().__init__(
            f"db downgrade {revision} would {what}; nothing was changed. "
            "Run it again with --yes to do it"
        )
        self.lost = lost


def _row_counts(conn: Connection) -> dict[str, int]:
    names = [n for n in inspect(conn).get_table_names() if n != "alembic_version"]
    return {n: conn.scalar(select(func.count()).select_from(table(n))) or 0 for n in names}


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def revisions() -> list[str]:
    """Every revision, oldest first."""
    return [r.revision for r in reversed(list(ScriptDirectory(script_location()).walk_revisions()))]


def head() -> str | None:
    return ScriptDirectory(script_location()).get_current_head()


def is_current(engine: Engine) -> bool:
    return current(engine) == head()
