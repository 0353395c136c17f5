"""Alembic driven from code, with the daemon's own engine (works from a wheel too)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from csv_import_daemon.db.engine import writing

HEAD = "head"


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


def upgrade(engine: Engine, revision: str = HEAD) -> None:
    cfg = _config(engine)
    with writing(engine) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    cfg = _config(engine)
    with writing(engine) as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head() -> str | None:
    return ScriptDirectory(script_location()).get_current_head()


def is_current(engine: Engine) -> bool:
    return current(engine) == head()
