"""One typed, validated settings object: defaults < TOML file < environment < flags."""

from __future__ import annotations

import dataclasses
import os
import socket
import tomllib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from csv_import_daemon.errors import ConfigError
from csv_import_daemon.point_values import PointValue, parse_point_values
from csv_import_daemon.trading_day import Rollover, parse_rollover

DateOrderSetting = Literal["auto", "mdy", "dmy"]
LogFormat = Literal["auto", "json", "console"]
LogLevel = Literal["debug", "info", "warning", "error"]
SqliteSynchronous = Literal["NORMAL", "FULL"]

ENV_PREFIX = "CSV_IMPORT_"
CONFIG_ENV = "CSV_IMPORT_CONFIG"


def default_database_url() -> str:
    """A SQLite file in systemd's StateDirectory, else in the XDG state folder."""
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if not state:
        base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        state = str(Path(base) / "csv-import-daemon")
    return f"sqlite:///{Path(state) / 'journal.sqlite3'}"


def host_timezone() -> str:
    """The host's IANA zone name; UTC when it cannot be told."""
    try:
        import tzlocal  # noqa: PLC0415 - only needed when no zone is configured

        name = tzlocal.get_localzone_name()
    except Exception:  # tzlocal raises several kinds on odd hosts; UTC is the safe answer
        return "UTC"
    return name or "UTC"


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of the daemon and the CLI, validated once at start."""

    database_url: str = field(default_factory=default_database_url)
    watch_dir: Path | None = None
    source_timezone: str = field(default_factory=host_timezone)
    date_order: DateOrderSetting = "auto"
    recursive: bool = False
    polling: bool = False
    rescan_interval: float = 60.0
    settle: float = 5.0
    archive_dir: Path | None = None
    archive_quiet: float = 3600.0
    run_migrations: bool = True
    instance_name: str = field(default_factory=socket.gethostname)
    batch_size: int = 200_000
    commit_seconds: float = 2.0
    busy_timeout: float = 30.0
    sqlite_synchronous: SqliteSynchronous = "NORMAL"
    log_format: LogFormat = "auto"
    log_level: LogLevel = "info"
    # Round trips (issue 13): when a trading day starts, and point values by root.
    trading_day_rollover: str = "17:00 America/Chicago"
    point_values: tuple[tuple[str, PointValue], ...] = ()

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.source_timezone)

    @property
    def rollover(self) -> Rollover:
        return parse_rollover(self.trading_day_rollover)


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


_CHOICES: dict[str, tuple[str, ...]] = {
    "date_order": get_args(DateOrderSetting),
    "log_format": get_args(LogFormat),
    "log_level": get_args(LogLevel),
    "sqlite_synchronous": get_args(SqliteSynchronous),
}


_BOOLS = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}


def _coerce(name: str, value: Any, origin: str) -> Any:
    """Turn a raw TOML/env/flag value into the field's type or say what is allowed."""
    hint = str(Settings.__annotations__[name])
    where = f"{name} (from {origin})"
    if name == "point_values":
        return parse_point_values(_toml_table(value, where), origin)
    allowed = _CHOICES.get(name)
    if allowed is not None:
        text = str(value).upper() if name == "sqlite_synchronous" else str(value).lower()
        if text not in allowed:
            raise ConfigError(f"{where}: {value!r} is not allowed; use one of {', '.join(allowed)}")
        return text
    if hint == "bool":
        if isinstance(value, bool):
            return value
        if str(value).lower() in _BOOLS:
            return _BOOLS[str(value).lower()]
        raise ConfigError(f"{where}: {value!r} is not a boolean; use true or false")
    if hint in ("float", "int"):
        try:
            number = float(value) if hint == "float" else int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: {value!r} is not a number") from None
        if number < 0 or (name == "batch_size" and number < 1):
            raise ConfigError(f"{where}: {value!r} must be a positive number")
        return number
    if hint == "Path | None":
        return None if value in (None, "") else Path(str(value)).expanduser()
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: expected a non-empty text value, got {value!r}")
    return value


def _toml_table(value: Any, where: str) -> Any:
    """An environment variable or flag gives a TOML inline table as text."""
    if not isinstance(value, str):
        return value
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        raise ConfigError(
            f'{where}: {value!r} is not a TOML inline table such as {{ XYZ = "2.5" }}'
        ) from None


def load_settings(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Merge defaults < TOML file < environment < flags into one validated Settings.

    ``flags`` holds only what was given on the command line (None means not given).
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_file or (Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None)
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from None
        for key, raw in data.items():
            name = key.replace("-", "_")
            if name not in _FIELDS:
                known = ", ".join(sorted(_FIELDS))
                raise ConfigError(f"{path}: unknown setting {key!r}; known settings: {known}")
            values[name] = _coerce(name, raw, str(path))
    for name in _FIELDS:
        raw_env = env.get(ENV_PREFIX + name.upper())
        if raw_env is not None and raw_env != "":
            values[name] = _coerce(name, raw_env, ENV_PREFIX + name.upper())
    for name, raw in (flags or {}).items():
        if raw is not None and name in _FIELDS:
            values[name] = _coerce(name, raw, "--" + name.replace("_", "-"))
    settings = Settings(**values)
    _validate(settings)
    return settings


def _validate(settings: Settings) -> None:
    try:
        zoneinfo.ZoneInfo(settings.source_timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"source_timezone: {settings.source_timezone!r} is not an IANA time zone name; "
            "use a name such as America/New_York, Europe/Berlin or UTC"
        ) from None
    parse_rollover(settings.trading_day_rollover)
    url = settings.database_url
    if not url.startswith(("sqlite:", "sqlite+pysqlite:", "postgresql")):
        raise ConfigError(
            f"database_url: {url!r} is not supported; use sqlite:///PATH "
            "or postgresql+psycopg://USER@HOST/DB"
        )
    if len(settings.instance_name) > 255:  # import_files.instance; PostgreSQL enforces it
        raise ConfigError(
            f"instance_name: {len(settings.instance_name)} characters; use at most 255"
        )
