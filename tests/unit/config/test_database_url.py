"""The database URL: never shown with its password, malformed ones refused before
anything is created, and the password read from a file instead of the command line."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from csv_import_daemon.config.database_url import masked_url, masked_url_text
from csv_import_daemon.config.settings import load_settings
from csv_import_daemon.db.engine import make_engine
from csv_import_daemon.errors import ConfigError
from support.processes import run_cli

SECRET = "s3krit-Pw"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg://u:{SECRET}@h/db",
        f"postgresql+psycopg://u@h/db?password={SECRET}",
        f"postgresql+psycopg://u@h/db?sslmode=require&sslpassword={SECRET}",
        f"postgersql://u:{SECRET}@h/db",  # a typo in the scheme
        f"postgresql+psycopg://u:{SECRET}@h:abc/db",  # a port that is not a number
        f"postgresql+psycopg://u:{SECRET}@[::1/db",  # not parseable at all
    ],
)
def test_masked_url_hides_the_password_whatever_the_shape(url: str) -> None:
    """The user part's password and password= query values become ***, parseable or not."""
    shown = masked_url(url)
    assert SECRET not in shown
    assert "***" in shown
    if "?" not in url and "[" not in url and ":abc" not in url:
        assert masked_url(make_url(url)) == shown


def test_driver_text_is_masked() -> None:
    """A driver's message quoting a URL or a libpq conninfo loses the password."""
    text = f"bad dsn postgresql://u:{SECRET}@h/db or host=h password={SECRET} user=u"
    assert SECRET not in masked_url_text(text)


MALFORMED = [
    "sqlite://relative",  # two slashes: 'relative' is read as a host
    "sqlite://relative/journal.db",
    f"postgresql+psycopg://u:{SECRET}@localhost:abc/db",
    f"postgresql+psycopg://u:{SECRET}@localhost:99999/db",
    f"postgresql+psycopg://u:{SECRET}@[::1/db",
    f"mysql://u:{SECRET}@h/db",
]


@pytest.mark.parametrize("url", MALFORMED)
def test_malformed_url_is_one_configuration_error_exit_2_and_creates_nothing(
    url: str, tmp_path: Path
) -> None:
    """import, status and db upgrade: exit 2, one configuration_error line on stderr, no
    traceback, no password, no file created in the working folder."""
    (tmp_path / "a.csv").write_text("x\n")
    for command in (["import", "a.csv"], ["status"], ["db", "upgrade"]):
        done = run_cli(*command, "--database", url, "--log-format", "json", cwd=tmp_path)
        assert done.returncode == 2, (command, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert json.loads(lines[0])["event"] == "configuration_error"
        assert SECRET not in done.stderr + done.stdout
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


def test_load_settings_refuses_malformed_urls() -> None:
    for url in MALFORMED:
        with pytest.raises(ConfigError) as caught:
            load_settings({"database_url": url}, environ={})
        assert SECRET not in str(caught.value)


def test_password_comes_from_a_file_or_a_systemd_credential(tmp_path: Path) -> None:
    """CSV_IMPORT_DATABASE_PASSWORD_FILE, else $CREDENTIALS_DIRECTORY/database_password: the
    engine connects with it, settings never show it, an empty file is an error."""
    url = "postgresql+psycopg://u@db.example/j"
    named = tmp_path / "pw"
    named.write_text(SECRET + "\n")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "database_password").write_text("from-systemd")
    for environ, expected in (
        ({"CSV_IMPORT_DATABASE_PASSWORD_FILE": str(named)}, SECRET),
        ({"CREDENTIALS_DIRECTORY": str(creds)}, "from-systemd"),
        ({}, None),
    ):
        settings = load_settings({"database_url": url}, environ=environ)
        assert settings.database_password == expected
        assert SECRET not in repr(settings)
        engine = make_engine(settings)
        assert engine.url.password == expected
        assert SECRET not in masked_url(engine.url)
        engine.dispose()
    named.write_text("\n")
    with pytest.raises(ConfigError, match="password file is empty"):
        load_settings(environ={"CSV_IMPORT_DATABASE_PASSWORD_FILE": str(named)})


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_database_error_shows_no_password(tmp_path: Path) -> None:
    """A password in the URL's query and one from a file: the database error (exit 3)
    names the database without either."""
    pw = tmp_path / "pw"
    pw.write_text(SECRET)
    url = f"postgresql+psycopg://u@127.0.0.1:{closed_port()}/db?password={SECRET}x"
    done = run_cli(
        "status",
        "--json",
        "--database",
        url,
        "--log-format",
        "json",
        env={"CSV_IMPORT_DATABASE_PASSWORD_FILE": str(pw)},
    )
    assert done.returncode == 3, done.stderr
    assert SECRET not in done.stderr + done.stdout
    assert "password=***" in done.stderr


@pytest.mark.postgres
def test_status_json_masks_a_query_password(migrated_postgres_url: str) -> None:
    """status --json on a real PostgreSQL journal reached with ?password=: masked."""
    url = make_url(migrated_postgres_url).update_query_dict({"password": SECRET})
    done = run_cli("status", "--json", "--database", url.render_as_string(hide_password=False))
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert "password=***" in done.stdout
