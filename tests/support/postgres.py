"""Fresh PostgreSQL databases for tests, on the server CSV_IMPORT_TEST_POSTGRES_URL names.

Each test gets a database of its own. An empty one costs a CREATE DATABASE; one with the
schema already migrated is a copy of a template database migrated once per session
(``CREATE DATABASE ... TEMPLATE``), which saves running the migrations every time. Drops
run on a background thread so a test's teardown does not wait for them.
"""

from __future__ import annotations

import os
import queue
import threading
import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

# SQLAlchemy is imported where it is used: a benchmark that needs only POSTGRES_ENV stays a
# small process, and the peak RSS that wait4 reports for its children stays theirs (a child
# starts with its parent's resident pages until exec).

POSTGRES_ENV = "CSV_IMPORT_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_ENV = "CSV_IMPORT_REQUIRE_POSTGRES"


def server_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def skip_or_fail_without_postgres() -> None:
    """Skip, or fail when CSV_IMPORT_REQUIRE_POSTGRES says PostgreSQL must be tested."""
    import pytest  # noqa: PLC0415 - only tests call this; the benchmarks run without pytest

    if os.environ.get(REQUIRE_POSTGRES_ENV):
        pytest.fail(f"{POSTGRES_ENV} is not set but {REQUIRE_POSTGRES_ENV} demands PostgreSQL")
    pytest.skip(f"no PostgreSQL server configured ({POSTGRES_ENV} is unset)")


class Databases:
    """Creates and drops the test databases of one session."""

    def __init__(self, server: str) -> None:
        from sqlalchemy import create_engine  # noqa: PLC0415

        self.server = server
        self.admin: Engine = create_engine(server, isolation_level="AUTOCOMMIT")
        self._template: str | None = None
        self._drops: queue.Queue[str | None] = queue.Queue()
        self._dropper = threading.Thread(target=self._drop_all, name="pg-dropper", daemon=True)
        self._dropper.start()

    def url(self, name: str) -> str:
        from sqlalchemy.engine import make_url  # noqa: PLC0415

        return make_url(self.server).set(database=name).render_as_string(hide_password=False)

    def _execute(self, sql: str) -> None:
        from sqlalchemy import text  # noqa: PLC0415

        with self.admin.connect() as conn:
            conn.execute(text(sql))

    def create(self, *, migrated: bool = False) -> str:
        """A new database's URL: empty, or at the newest schema revision."""
        name = f"cid_test_{uuid.uuid4().hex[:12]}"
        if migrated:
            self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{self._migrated_template()}"')
        else:
            self._execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def _migrated_template(self) -> str:
        if self._template is None:
            # Imported here: the benchmarks import this package without needing it.
            from csv_import_daemon.config.settings import load_settings  # noqa: PLC0415
            from csv_import_daemon.db import migrate  # noqa: PLC0415
            from csv_import_daemon.db.engine import make_engine  # noqa: PLC0415

            name = f"cid_template_{uuid.uuid4().hex[:12]}"
            self._execute(f'CREATE DATABASE "{name}"')
            engine = make_engine(
                load_settings(
                    {"database_url": self.url(name), "source_timezone": "UTC"}, environ={}
                )
            )
            try:
                migrate.upgrade(engine)
            finally:
                engine.dispose()  # a template must have no open connection when copied
            self._template = name
        return self._template

    def drop(self, url: str) -> None:
        """Drop the database of ``url`` soon (connections still open are ended)."""
        from sqlalchemy.engine import make_url  # noqa: PLC0415

        name = make_url(url).database
        if name is None or not name.startswith("cid_test_"):
            raise ValueError(f"not a test database: {url}")
        self._drops.put(name)

    def _drop_all(self) -> None:
        while (name := self._drops.get()) is not None:
            try:
                self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as exc:  # a leftover database must not fail the next test
                print(f"support.postgres: could not drop {name}: {exc}")

    def close(self) -> None:
        """Finish the pending drops, drop the template, let go of the server."""
        self._drops.put(None)
        self._dropper.join(120)
        try:
            if self._template is not None:
                self._execute(f'DROP DATABASE IF EXISTS "{self._template}" WITH (FORCE)')
        finally:
            self.admin.dispose()
