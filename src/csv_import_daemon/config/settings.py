"""One typed, validated settings object: defaults < TOML file < environment < flags."""

from __future__ import annotations

import dataclasses
import math
import os
import socket
import tomllib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from csv_import_daemon.config.commissions import CommissionRate
from csv_import_daemon.config.database_url import check_database_url, password_from
from csv_import_daemon.config.point_values import PointValue
from csv_import_daemon.config.sources import (
    CONFIG_ENV,
    ENV_PREFIX,
    SYSTEM_CONFIG,
    SYSTEM_CONFIG_ENV,
)
from csv_import_daemon.config.tables import special_setting
from csv_import_daemon.config.trading_day import Rollover, parse_rollover
from csv_import_daemon.errors import ConfigError

DateOrderSetting = Literal["auto", "mdy", "dmy"]
DecimalMarkSetting = Literal["auto", ".", ","]
LogFormat = Literal["auto", "json", "console"]
LogLevel = Literal["debug", "info", "warning", "error"]
SqliteSynchronous = Literal["NORMAL", "FULL"]

# Fields filled in by the loader, not settings a user writes.
_INTERNAL = frozenset({"config_file", "database_password", "given", "origins"})
# The settings that decide stored values: the journal records them per instance when first
# used, and a later command that does not give them uses the recorded ones.
RECORDED_SETTINGS = ("source_timezone", "date_order", "decimal_mark", "default_account")


def user_config_file(environ: Mapping[str, str]) -> Path:
    """``$XDG_CONFIG_HOME/csv-import-daemon/config.toml`` (default ``~/.config/...``)."""
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "csv-import-daemon" / "config.toml"


def system_config_file(environ: Mapping[str, str]) -> Path:
    """``/etc/csv-import-daemon/config.toml``, or the file CSV_IMPORT_SYSTEM_CONFIG names.

    The process environment counts even when settings are read from another mapping: like
    the state folder, where the system file lives belongs to the installation.
    """
    return Path(
        environ.get(SYSTEM_CONFIG_ENV) or os.environ.get(SYSTEM_CONFIG_ENV) or SYSTEM_CONFIG
    )


def find_config_file(explicit: Path | None, environ: Mapping[str, str]) -> Path | None:
    """The one configuration file every command reads: ``--config``, else CSV_IMPORT_CONFIG,
    else the user's, else the system's (CSV_IMPORT_SYSTEM_CONFIG may name another); None
    when none of the last two exists.

    An explicitly named file must exist (reading it reports it); a discovered one is used
    only when it is there.
    """
    if explicit is not None:
        return Path(os.path.abspath(explicit))
    if environ.get(CONFIG_ENV):
        return Path(os.path.abspath(environ[CONFIG_ENV]))
    for candidate in (user_config_file(environ), system_config_file(environ)):
        if candidate.is_file():
            return Path(os.path.abspath(candidate))
    return None


def is_default_database(url: str) -> bool:
    """True for the built-in default (its state folder may be created); an explicit path's
    folder must already exist."""
    return url == default_database_url()


def state_folder() -> Path:
    """systemd's StateDirectory, else the XDG state folder's ``csv-import-daemon``."""
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if not state:
        base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        state = str(Path(base) / "csv-import-daemon")
    return Path(state)


def default_database_url() -> str:
    """A SQLite file in the state folder."""
    return f"sqlite:///{state_folder() / 'journal.sqlite3'}"


def default_report_path() -> Path:
    """``report``'s page when neither ``--out`` nor ``report_path`` says: beside the default
    journal, in the state folder."""
    return state_folder() / "journal.html"


def host_timezone() -> str:
    """The host's IANA zone name; UTC when it cannot be told."""
    try:
        import tzlocal  # noqa: PLC0415 - only needed when no zone is configured

        name = tzlocal.get_localzone_name()
    except Exception:  # tzlocal raises several kinds on odd hosts; UTC is the safe answer
        return "UTC"
    return name or "UTC"


HEARTBEAT_MAX = 30.0  # the heartbeat's interval and its upper bound


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
    # Seconds between the daemon's heartbeats; ``status`` calls a daemon gone after three
    # missed ones of the default, so it may only be shorter.
    heartbeat_interval: float = HEARTBEAT_MAX
    sqlite_synchronous: SqliteSynchronous = "NORMAL"
    log_format: LogFormat = "auto"
    log_level: LogLevel = "info"
    decimal_mark: DecimalMarkSetting = "auto"
    default_account: str | None = None
    # header as written -> field name; action / E/X word as written -> canonical word.
    # Keys are kept casefolded and trimmed: matching ignores letter case.
    header_aliases: Mapping[str, str] = field(default_factory=dict)
    action_aliases: Mapping[str, str] = field(default_factory=dict)
    entry_exit_aliases: Mapping[str, str] = field(default_factory=dict)
    # HOST:PORT of the /metrics and /healthz server; None keeps it off.
    metrics_address: str | None = None
    # The journal page ``run`` keeps fresh after commits; None keeps it off.
    report_path: Path | None = None
    # Round trips: when a trading day starts, and point values by root (added/overridden).
    trading_day_rollover: str = "17:00 America/Chicago"
    point_values: tuple[tuple[str, PointValue], ...] = ()
    # Commission schedules by root, for fills whose file gives none (config.commissions).
    commissions: tuple[tuple[str, CommissionRate], ...] = ()
    # The zone reports show times in (None: source_timezone); --json keeps UTC beside it.
    display_timezone: str | None = None
    # Set by load_settings, never read from a file: the configuration file in force.
    config_file: Path | None = None
    # Set by load_settings from a password file (never a setting, never shown).
    database_password: str | None = field(default=None, repr=False)
    # Set by load_settings: the settings a file, the environment or a flag gave (the rest
    # are defaults, which the journal's recorded values override).
    given: frozenset[str] = field(default=frozenset(), compare=False)
    # Set by load_settings: where each given setting came from (the file's path, the
    # environment variable, the flag); the journal's record outranks a file or variable.
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.source_timezone)

    @property
    def display_zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.display_timezone or self.source_timezone)

    @property
    def rollover(self) -> Rollover:
        return parse_rollover(self.trading_day_rollover)


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


_CHOICES: dict[str, tuple[str, ...]] = {
    "date_order": get_args(DateOrderSetting),
    "decimal_mark": get_args(DecimalMarkSetting),
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


def _coerce(name: str, value: Any, origin: str, *, typed: bool = False) -> Any:
    """Turn a raw TOML/env/flag value into the field's type or say what is allowed.

    TOML values carry their own type and must have the right one (``polling = "yes"`` is
    an error); environment text is parsed, as is the only way it can be written.
    """
    hint = str(Settings.__annotations__[name])
    where = f"{name} (from {origin})"
    special = special_setting(name)
    if special is not None:
        return special(value, where, origin, typed)
    if name in _CHOICES:
        return _choice(name, value, where)
    convert = _CONVERTERS.get(hint)
    if convert is not None:
        return convert(name, value, where, typed)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: expected a non-empty text value, got {value!r}")
    return value


def _account(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 50:
        raise ConfigError(f"{where}: expected an account name of 1 to 50 characters")
    return value.strip()


def _choice(name: str, value: Any, where: str) -> str:
    allowed = _CHOICES[name]
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {value!r} is not text; use one of {', '.join(allowed)}")
    text = value.upper() if name == "sqlite_synchronous" else value.lower()
    text = text.strip() if name == "decimal_mark" else text
    if text not in allowed:
        raise ConfigError(f"{where}: {value!r} is not allowed; use one of {', '.join(allowed)}")
    return text


def _bool(value: Any, where: str, *, typed: bool) -> bool:
    if isinstance(value, bool):
        return value
    if not typed and str(value).lower() in _BOOLS:
        return _BOOLS[str(value).lower()]
    raise ConfigError(f"{where}: {value!r} is not a boolean; use true or false")


def _path(value: Any, where: str, *, typed: bool) -> Path | None:
    if typed and not isinstance(value, str):
        raise ConfigError(f"{where}: {value!r} is not a path; use a quoted folder path")
    if value in (None, ""):
        return None
    return Path(os.path.abspath(Path(str(value)).expanduser()))


def _number(name: str, value: Any, where: str, *, typed: bool) -> float | int:
    hint = str(Settings.__annotations__[name])
    kind = "a whole number" if hint == "int" else "a number"
    if isinstance(value, bool) or (typed and not isinstance(value, int | float)):
        raise ConfigError(f"{where}: {value!r} is not {kind}; write it without quotes, e.g. 5")
    if typed and hint == "int" and not isinstance(value, int):
        raise ConfigError(f"{where}: {value!r} is not a whole number")
    try:
        number = float(value) if hint == "float" else int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {value!r} is not {kind}") from None
    if not math.isfinite(number):
        raise ConfigError(f"{where}: {value!r} is not a finite number; use a value such as 5")
    if number < 0 or (name == "batch_size" and number < 1):
        raise ConfigError(f"{where}: {value!r} must be a positive number")
    return number


# Field type (as annotated) -> converter(name, value, where, typed).
_CONVERTERS: dict[str, Any] = {
    "bool": lambda _name, value, where, typed: _bool(value, where, typed=typed),
    "float": lambda name, value, where, typed: _number(name, value, where, typed=typed),
    "int": lambda name, value, where, typed: _number(name, value, where, typed=typed),
    "Path | None": lambda _name, value, where, typed: _path(value, where, typed=typed),
    "str | None": lambda _name, value, where, _typed: _account(value, where),
}


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
    origins: dict[str, str] = {}
    path = find_config_file(config_file, env)
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from None
        for key, raw in data.items():
            name = key.replace("-", "_")
            if name not in _FIELDS or name in _INTERNAL:
                known = ", ".join(sorted(set(_FIELDS) - _INTERNAL))
                raise ConfigError(f"{path}: unknown setting {key!r}; known settings: {known}")
            values[name] = _coerce(name, raw, str(path), typed=True)
            origins[name] = str(path)
    values["config_file"] = path
    values["database_password"] = password_from(env)
    for name in (n for n in _FIELDS if n not in _INTERNAL):
        raw_env = env.get(ENV_PREFIX + name.upper())
        if raw_env is not None and raw_env != "":
            values[name] = _coerce(name, raw_env, ENV_PREFIX + name.upper())
            origins[name] = ENV_PREFIX + name.upper()
    for name, raw in (flags or {}).items():
        if raw is not None and name in _FIELDS and name not in _INTERNAL:
            values[name] = _coerce(name, raw, "--" + name.replace("_", "-"))
            origins[name] = "--" + name.replace("_", "-")
    values["given"] = frozenset(n for n in values if n not in _INTERNAL)
    values["origins"] = origins
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
    check_database_url(settings.database_url)
    if not 0 < settings.heartbeat_interval <= HEARTBEAT_MAX:
        raise ConfigError(
            f"heartbeat_interval: {settings.heartbeat_interval!r} is out of range; use a "
            f"number of seconds above 0 and at most {HEARTBEAT_MAX:g}"
        )
    if len(settings.instance_name) > 255:  # import_files.instance; PostgreSQL enforces it
        raise ConfigError(
            f"instance_name: {len(settings.instance_name)} characters; use at most 255"
        )


def settings_in_force(settings: Settings) -> dict[str, Any]:
    """What decides how files are read, for the ``start`` event and ``status``."""
    return {
        "config_file": str(settings.config_file) if settings.config_file else None,
        "source_timezone": settings.source_timezone,
        "date_order": settings.date_order,
        "decimal_mark": settings.decimal_mark,
    }
