"""Shared fixtures: a real SQLite file and, when configured, a fresh PostgreSQL database."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from csv_import_daemon.config import Settings, load_settings
from csv_import_daemon.db import migrate
from csv_import_daemon.db.engine import make_engine

SAMPLES = Path(__file__).parent / "samples"
POSTGRES_ENV = "CSV_IMPORT_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_ENV = "CSV_IMPORT_REQUIRE_POSTGRES"


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


def postgres_server_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def _skip_or_fail_without_postgres() -> None:
    if os.environ.get(REQUIRE_POSTGRES_ENV):
        pytest.fail(f"{POSTGRES_ENV} is not set but {REQUIRE_POSTGRES_ENV} demands PostgreSQL")
    pytest.skip(f"no PostgreSQL server configured ({POSTGRES_ENV} is unset)")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A brand-new PostgreSQL database for one test, dropped afterwards."""
    server = postgres_server_url()
    if server is None:
        _skip_or_fail_without_postgres()
        raise AssertionError("unreachable")
    name = f"cid_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs once on a SQLite file and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'journal.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
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
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def samples(tmp_path: Path) -> Path:
    """A private copy of the sample files (tests may rename or append to them)."""
    dest = tmp_path / "samples"
    shutil.copytree(SAMPLES, dest)
    return dest
