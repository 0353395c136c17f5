"""Shared fixtures: a real SQLite file and, when configured, a fresh PostgreSQL database.

Every session runs in a home of its own (no user or system configuration, no user state,
no ``CSV_IMPORT_*`` setting from the shell), and every test must stop the threads it
starts. The helpers themselves (rows, subprocesses, the notify listener, the daemon,
databases) live in ``tests/support/``.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from watchdog.observers.api import BaseObserver

from csv_import_daemon.config.settings import Settings, load_settings
from csv_import_daemon.db import migrate
from csv_import_daemon.db.engine import make_engine
from support.daemon import DaemonProcess
from support.isolation import check_isolated, isolate, new_home, restore
from support.postgres import Databases, server_url, skip_or_fail_without_postgres

SAMPLES = Path(__file__).parent / "samples"
# How long a thread a test started may take to finish after the test (a stopped observer
# or server thread winds down asynchronously); only a leaking test waits this long.
THREAD_GRACE = 10.0
# Threads of session-scoped fixtures, first started inside some test's setup: they live
# as long as the session (support.postgres.Databases drops used databases in the background).
SESSION_THREADS = frozenset({"pg-dropper"})
_HOME_KEY = pytest.StashKey[tuple[Path, dict[str, str | None]]]()


def pytest_configure(config: pytest.Config) -> None:
    """Isolate before collection: modules computing defaults at import see the test home."""
    home = new_home()
    config.stash[_HOME_KEY] = (home, isolate(os.environ, home))


def pytest_unconfigure(config: pytest.Config) -> None:
    home, saved = config.stash[_HOME_KEY]
    restore(os.environ, saved)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def isolated_home(pytestconfig: pytest.Config) -> Path:
    """The session's own HOME (XDG folders and system configuration file inside it)."""
    check_isolated()
    return pytestconfig.stash[_HOME_KEY][0]


@pytest.fixture(autouse=True)
def _no_thread_left_running(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test (with its fixtures) stops every thread it started, as watchdog's tests demand:
    a leaked observer or server thread would act in later tests."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + THREAD_GRACE
    new = [t for t in threading.enumerate() if t not in before and t.name not in SESSION_THREADS]
    for thread in new:
        thread.join(max(0.0, deadline - time.monotonic()))
    left = [f"{t.name} ({'daemon' if t.daemon else 'non-daemon'})" for t in new if t.is_alive()]
    assert not left, f"{request.node.nodeid} left threads running: {', '.join(left)}"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--release",
        action="store_true",
        default=False,
        help="release checks: more kills and examples, the several-hundred-MB file",
    )


@pytest.fixture(autouse=True)
def _daemon_tests_are_marked(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``-m "not daemon"`` leaves out every test that starts the daemon subprocess or a
    real observer: one that does so unmarked fails, naming the mark."""
    if request.node.get_closest_marker("daemon") is not None:
        return

    def refuse(*_args: object, **_kwargs: object) -> None:
        pytest.fail(
            f"{request.node.nodeid} starts the daemon or a file observer: "
            "mark it @pytest.mark.daemon"
        )

    monkeypatch.setattr(BaseObserver, "start", refuse)
    monkeypatch.setattr(DaemonProcess, "start", refuse)


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


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite journal at the newest revision, made once: tests copy the file instead of
    running every migration again (about 0.27 s a test)."""
    path = tmp_path_factory.mktemp("template") / "journal.sqlite3"
    settings = load_settings(
        {"database_url": f"sqlite:///{path}", "source_timezone": "UTC"}, environ={}
    )
    eng = make_engine(settings)
    try:
        migrate.upgrade(eng)
    finally:
        eng.dispose()
    leftovers = [p.name for p in path.parent.iterdir() if p != path]
    assert not leftovers, f"the template is more than one file: {leftovers}"
    return path


@pytest.fixture
def engine(settings: Settings, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """The test's database at the newest revision: a copy of the migrated SQLite template,
    or the migrated PostgreSQL copy (where ``upgrade`` is a no-op)."""
    url = make_url(settings.database_url)
    copied = False
    if url.get_backend_name() == "sqlite" and url.database:
        target = Path(url.database)
        if not target.exists():
            template: Path = request.getfixturevalue("migrated_sqlite_template")
            shutil.copyfile(template, target)
            copied = True
    eng = make_engine(settings)
    if not copied:
        migrate.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def samples(tmp_path: Path) -> Path:
    """A private copy of the sample files (tests may rename or append to them)."""
    dest = tmp_path / "samples"
    shutil.copytree(SAMPLES, dest)
    return dest
