"""Shared fixtures: a real SQLite file and, when configured, a fresh PostgreSQL database.

The helpers themselves (rows, subprocesses, the notify listener, the daemon, databases)
live in ``tests/support/``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from csv_import_daemon.config.settings import Settings, load_settings
from csv_import_daemon.db import migrate
from csv_import_daemon.db.engine import make_engine
from support.postgres import Databases, server_url, skip_or_fail_without_postgres

SAMPLES = Path(__file__).parent / "samples"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--release",
        action="store_true",
        default=False,
        help="release checks: more kills and examples, the several-hundred-MB file",
    )


@pytest.fixture(scope="session")
def release(request: pytest.FixtureRequest) -> bool:
    """True under --release: fault and property tests run longer, slow tests run at all."""
    return bool(request.config.getoption("--release"))


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[Databases]:
    """The session's PostgreSQL databases (skipped, or failed, without a server)."""
    server = server_url()
    if server is None:
        skip_or_fail_without_postgres()
        raise AssertionError("unreachable")
    databases = Databases(server)
    yield databases
    databases.close()


@pytest.fixture
def postgres_url(postgres_databases: Databases) -> Iterator[str]:
    """A brand-new, empty PostgreSQL database for one test, dropped afterwards."""
    url = postgres_databases.create()
    yield url
    postgres_databases.drop(url)


@pytest.fixture
def migrated_postgres_url(postgres_databases: Databases) -> Iterator[str]:
    """A brand-new PostgreSQL database at the newest schema revision, dropped afterwards."""
    url = postgres_databases.create(migrated=True)
    yield url
    postgres_databases.drop(url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs once on a SQLite file and once on PostgreSQL.

    The PostgreSQL database is empty, unless the test uses ``engine`` (which migrates it
    anyway): then it is copied from a migrated template, which is quicker.
    """
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'journal.sqlite3'}"
    fixture = "migrated_postgres_url" if "engine" in request.fixturenames else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_settings(
        {
            "database_url": database_url,
            "source_timezone": "America/New_York",
            "instance_name": "test-host",
            "settle": 0.0,
        },
        environ={},
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = make_engine(settings)
    migrate.upgrade(eng)  # a no-op on the migrated PostgreSQL copy; SQLite starts empty
    yield eng
    eng.dispose()


@pytest.fixture
def samples(tmp_path: Path) -> Path:
    """A private copy of the sample files (tests may rename or append to them)."""
    dest = tmp_path / "samples"
    shutil.copytree(SAMPLES, dest)
    return dest
