"""Is the journal at the schema this code needs? One cheap query, no Alembic.

Loading Alembic and walking every revision cost a command more than its work, so a command
that only reads checks ``alembic_version`` here against ``HEAD_REVISION``; Alembic
(``db/migrate.py``) is imported only when the schema has to change. A test holds
``HEAD_REVISION`` equal to the newest revision in ``alembic/versions``.
"""

from __future__ import annotations

from sqlalchemy import Engine, inspect, text

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db.engine import check_connection
from csv_import_daemon.errors import DatabaseUnavailableError
from csv_import_daemon.logs import get_logger

log = get_logger(__name__)

# The newest revision in alembic/versions: a new revision updates this line too.
HEAD_REVISION = "0019_trades_commission_source"


def current(engine: Engine) -> str | None:
    """The journal's revision, or None for a journal no migration has touched."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def prepare_database(engine: Engine, settings: Settings) -> None:
    """Connect, then bring the schema to head (or insist it is there)."""
    check_connection(engine)
    revision = current(engine)
    if revision == HEAD_REVISION:
        return
    if not settings.run_migrations:
        raise DatabaseUnavailableError(
            f"database schema is at {revision}, not {HEAD_REVISION}; "
            "run `csv-import-daemon db upgrade` or allow migrations at start"
        )
    # Alembic is loaded only here, when the schema has to change.
    from csv_import_daemon.db import migrate  # noqa: PLC0415

    migrate.upgrade(engine)
    log.info("migrated", revision=HEAD_REVISION)
