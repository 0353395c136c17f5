"""Settings: defaults < TOML file < environment < flags, validated with helpful messages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from csv_import_daemon.config.settings import Settings, load_settings
from csv_import_daemon.errors import ConfigError


def _toml(tmp_path: Path, body: str, name: str = "settings.toml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def test_defaults_apply_when_nothing_is_configured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With no file, environment or flags, the documented defaults are used."""
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))

    s = load_settings(environ={})

    expected = tmp_path / "state" / "csv-import-daemon" / "journal.sqlite3"
    assert s.database_url == f"sqlite:///{expected}"
    assert (s.date_order, s.log_format, s.log_level) == ("auto", "auto", "info")
    assert (s.settle, s.run_migrations, s.watch_dir, s.archive_dir) == (5.0, True, None, None)
    assert s.source_timezone  # the host's zone, or UTC when it cannot be told


def test_default_database_lives_in_systemds_state_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Under systemd, the default SQLite file is in the first STATE_DIRECTORY entry."""
    monkeypatch.setenv("STATE_DIRECTORY", f"{tmp_path}/a:{tmp_path}/b")
    assert load_settings(environ={}).database_url == f"sqlite:///{tmp_path}/a/journal.sqlite3"


def test_each_layer_overrides_the_one_below(tmp_path: Path) -> None:
    """Given a TOML file, environment and flags that all set values, the higher layer wins each."""
    config = _toml(
        tmp_path,
        'source_timezone = "Europe/Berlin"\ndate_order = "dmy"\n'
        'settle = 1.5\nlog_level = "debug"\n',
    )
    env = {"CSV_IMPORT_DATE_ORDER": "mdy", "CSV_IMPORT_SETTLE": "2.5"}

    s = load_settings({"settle": 3.5, "date_order": None}, environ=env, config_file=config)

    assert s.source_timezone == "Europe/Berlin"  # only the file sets it
    assert s.log_level == "debug"  # only the file sets it
    assert s.date_order == "mdy"  # environment beats the file; a None flag is "not given"
    assert s.settle == 3.5  # the flag beats both


def test_config_file_comes_from_the_environment_unless_given(tmp_path: Path) -> None:
    """CSV_IMPORT_CONFIG names the TOML file; an explicit config file takes its place."""
    from_env = _toml(tmp_path, 'instance_name = "from-env-file"\n', "env.toml")
    explicit = _toml(tmp_path, 'instance_name = "from-flag-file"\n', "flag.toml")
    env = {"CSV_IMPORT_CONFIG": str(from_env)}

    assert load_settings(environ=env).instance_name == "from-env-file"
    assert load_settings(environ=env, config_file=explicit).instance_name == "from-flag-file"


def test_toml_keys_may_use_dashes_and_native_types(tmp_path: Path) -> None:
    """`batch-size = 10` and `polling = true` are read like batch_size and polling."""
    config = _toml(
        tmp_path,
        'batch-size = 10\npolling = true\nwatch-dir = "~/exports"\nsqlite_synchronous = "full"\n',
    )
    s = load_settings(environ={}, config_file=config)
    assert (s.batch_size, s.polling, s.sqlite_synchronous) == (10, True, "FULL")
    assert s.watch_dir == Path("~/exports").expanduser()


def test_environment_values_are_coerced_and_empty_ones_ignored() -> None:
    """Environment text becomes booleans and numbers; an empty variable counts as unset."""
    env = {
        "CSV_IMPORT_RECURSIVE": "yes",
        "CSV_IMPORT_RUN_MIGRATIONS": "off",
        "CSV_IMPORT_RESCAN_INTERVAL": "7",
        "CSV_IMPORT_SOURCE_TIMEZONE": "",
        "CSV_IMPORT_LOG_FORMAT": "JSON",
    }
    s = load_settings({"source_timezone": "UTC"}, environ=env)
    assert (s.recursive, s.run_migrations, s.rescan_interval) == (True, False, 7.0)
    assert (s.source_timezone, s.log_format) == ("UTC", "json")


def test_settings_are_frozen() -> None:
    """The settings object cannot be changed after validation."""
    s = load_settings({"source_timezone": "UTC"}, environ={})
    with pytest.raises(AttributeError):
        s.date_order = "dmy"  # type: ignore[misc]
    assert isinstance(s, Settings)
    assert s.tz.key == "UTC"


@pytest.mark.parametrize(
    ("flags", "env", "expected"),
    [
        pytest.param({"date_order": "ymd"}, {}, "use one of auto, mdy, dmy", id="date-order"),
        pytest.param(
            {},
            {"CSV_IMPORT_LOG_LEVEL": "loud"},
            "use one of debug, info, warning, error",
            id="log-level",
        ),
        pytest.param(
            {"source_timezone": "Mars/Olympus"},
            {},
            "not an IANA time zone name; use a name such as America/New_York",
            id="timezone",
        ),
        pytest.param(
            {}, {"CSV_IMPORT_POLLING": "maybe"}, "not a boolean; use true or false", id="boolean"
        ),
        pytest.param({}, {"CSV_IMPORT_SETTLE": "soon"}, "is not a number", id="number"),
        pytest.param({"settle": -1}, {}, "must be a positive number", id="negative"),
        pytest.param(
            {}, {"CSV_IMPORT_BATCH_SIZE": "0"}, "must be a positive number", id="zero-batch"
        ),
        pytest.param(
            {"database_url": "mysql://x/y"},
            {},
            "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB",
            id="database",
        ),
    ],
)
def test_invalid_values_are_refused_saying_what_is_allowed(
    flags: dict[str, object], env: dict[str, str], expected: str
) -> None:
    """A bad value raises ConfigError naming the setting, where it came from and what is allowed."""
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_settings({"source_timezone": "UTC", **flags}, environ=env)


def test_error_names_the_origin_of_a_bad_value() -> None:
    """The message says whether the bad value came from a flag or the environment."""
    with pytest.raises(ConfigError, match=r"date_order \(from CSV_IMPORT_DATE_ORDER\)"):
        load_settings({"source_timezone": "UTC"}, environ={"CSV_IMPORT_DATE_ORDER": "x"})
    with pytest.raises(ConfigError, match=r"date_order \(from --date-order\)"):
        load_settings({"source_timezone": "UTC", "date_order": "x"}, environ={})


def test_unknown_toml_key_is_refused_listing_the_known_ones(tmp_path: Path) -> None:
    """A misspelt key in the TOML file is an error that lists every known setting."""
    config = _toml(tmp_path, 'databse_url = "sqlite:///x"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(environ={}, config_file=config)
    message = str(info.value)
    assert "unknown setting 'databse_url'" in message
    assert "database_url" in message
    assert "source_timezone" in message
    assert str(config) in message


def test_unreadable_or_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    """A missing file or broken TOML is reported as a configuration error, not a traceback."""
    with pytest.raises(ConfigError, match="cannot read configuration file"):
        load_settings(environ={}, config_file=tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(environ={}, config_file=_toml(tmp_path, "settle = = 1\n"))
