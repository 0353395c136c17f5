"""The schema check: one query against ``alembic_version``, equal to Alembic's own answer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine

from csv_import_daemon.db import migrate, schema
from support.processes import clean_env


def test_head_revision_is_the_newest_revision_on_disk() -> None:
    """A new revision must update HEAD_REVISION: commands would otherwise migrate at start
    or refuse a current journal."""
    assert migrate.head() == schema.HEAD_REVISION, (
        "update HEAD_REVISION in src/csv_import_daemon/db/schema.py to the new revision"
    )


def test_current_reads_what_alembic_reads(tmp_path: Path) -> None:
    """An untouched journal has no revision; after an upgrade both readings agree."""
    engine = create_engine(f"sqlite:///{tmp_path / 'j.sqlite3'}")
    assert schema.current(engine) is None
    migrate.upgrade(engine)
    assert schema.current(engine) == migrate.current(engine) == schema.HEAD_REVISION
    engine.dispose()


def test_a_current_journal_is_prepared_without_loading_alembic(tmp_path: Path) -> None:
    """prepare_database on a journal at head costs a query, not an Alembic environment."""
    url = f"sqlite:///{tmp_path / 'j.sqlite3'}"
    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    script = (
        "import sys\n"
        "from csv_import_daemon.config.settings import load_settings\n"
        "from csv_import_daemon.db.engine import make_engine\n"
        "from csv_import_daemon.db.schema import prepare_database\n"
        f"s = load_settings({{'database_url': {url!r}, 'source_timezone': 'UTC'}})\n"
        "prepare_database(make_engine(s), s)\n"
        "print('alembic' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=clean_env({"HOME": str(tmp_path)}),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert proc.stdout.strip() == "False"
