"""The settings that decide stored values, recorded per instance in the journal.

The source zone, the date order and decimal mark when set (not ``auto``) and the default
account are recorded when an instance first imports. A command that does not give one
(file, environment or flag) uses the recorded value, so a later ``import`` or ``status``
never falls back to the host's zone. The record is the journal's and outranks a
configuration file or environment variable: one that says otherwise is left over from
before a ``db settings`` (or must become one), so the recorded value is used and a warning
names both and the command (a daemon keeps running after ``db settings``); a repair is
refused instead, naming the flag. A flag is asked for now: another value is refused
(exit 2) with the recorded value and the two ways to change it: ``db settings`` for the
journal, or ``import --reread --replace`` to repair files (which changes nothing recorded).
"""

from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, inspect, select

from csv_import_daemon.config.settings import RECORDED_SETTINGS, Settings
from csv_import_daemon.db.engine import writing
from csv_import_daemon.db.tables import RECORDED, utc_now
from csv_import_daemon.errors import ConfigError
from csv_import_daemon.logs import get_logger

log = get_logger(__name__)

CHANGE_HINT = (
    "to change it for this journal: csv-import-daemon db settings --{flag} VALUE; to repair "
    "files read with another value: csv-import-daemon import --reread --replace --{flag} "
    "VALUE FILE..."
)


@dataclass(frozen=True, slots=True)
class Recorded:
    """One instance's recorded settings; None for date order and mark means ``auto``."""

    source_timezone: str
    date_order: str | None = None
    decimal_mark: str | None = None
    default_account: str | None = None

    @classmethod
    def of(cls, settings: Settings) -> Recorded:
        return cls(
            settings.source_timezone,
            None if settings.date_order == "auto" else settings.date_order,
            None if settings.decimal_mark == "auto" else settings.decimal_mark,
            settings.default_account,
        )

    def as_settings(self) -> dict[str, Any]:
        """The values as ``Settings`` fields (``auto`` for an unset order or mark)."""
        return {
            "source_timezone": self.source_timezone,
            "date_order": self.date_order or "auto",
            "decimal_mark": self.decimal_mark or "auto",
            "default_account": self.default_account,
        }


def load(conn: Connection, instance: str) -> Recorded | None:
    """The instance's recorded settings; None when none are (or the schema predates them)."""
    if not inspect(conn).has_table(RECORDED.name):
        return None
    row = conn.execute(select(RECORDED).where(RECORDED.c.instance == instance)).first()
    if row is None:
        return None
    return Recorded(row.source_timezone, row.date_order, row.decimal_mark, row.default_account)


def save(conn: Connection, instance: str, recorded: Recorded, *, exists: bool) -> None:
    """Record (or, ``exists``, replace) the instance's settings, in the caller's transaction."""
    values = {**dataclasses.asdict(recorded), "updated_at": utc_now()}
    if exists:
        conn.execute(RECORDED.update().where(RECORDED.c.instance == instance).values(**values))
    else:
        conn.execute(RECORDED.insert().values(instance=instance, recorded_at=utc_now(), **values))


def _set_in(recorded: Recorded) -> list[str]:
    """The recorded settings that hold a value (``auto`` and no account are not set yet:
    the first command that sets one records it)."""
    return [n for n in RECORDED_SETTINGS if getattr(recorded, n) is not None]


def _differing(settings: Settings, recorded: Recorded) -> list[str]:
    """The settings given with another value than the recorded one. A file's or variable's
    ``auto`` sets nothing (the example configuration writes it), so the record stands;
    ``--date-order auto`` asks for it now and differs."""
    mine = recorded.as_settings()
    return [
        name
        for name in _set_in(recorded)
        if name in settings.given
        and getattr(settings, name) != mine[name]
        and (getattr(settings, name) != "auto" or _flagged(settings, name))
    ]


def _flagged(settings: Settings, name: str) -> bool:
    """Given on the command line (a value given without a known origin counts as one)."""
    return settings.origins.get(name, "--").startswith("--")


def _refusal(settings: Settings, recorded: Recorded, name: str) -> str:
    shown = recorded.as_settings()[name]
    return (
        f"{name} is {getattr(settings, name)!r} here, but this journal records "
        f"{shown if shown is not None else 'none'!r} for instance "
        f"{settings.instance_name!r}; " + CHANGE_HINT.format(flag=name.replace("_", "-"))
    )


def _repair_refusal(settings: Settings, mine: dict[str, Any], name: str) -> str:
    flag = name.replace("_", "-")
    return (
        f"import --reread --replace: {name} is {getattr(settings, name)!r} in "
        f"{settings.origins[name]}, but this journal records {mine[name]!r} for instance "
        f"{settings.instance_name!r}; a repair reads with another value only as a flag: "
        f"--{flag} {shlex.quote(str(getattr(settings, name)))} (or remove {name} from "
        f"{settings.origins[name]} to read with the recorded value)"
    )


def apply(settings: Settings, recorded: Recorded | None, *, repair: bool = False) -> Settings:
    """``settings`` with the recorded values for what was not given on the command line.

    A configuration file's or environment variable's other value gives way to the recorded
    one (warned: ``recorded_setting_kept``). A flag's other value is refused
    (``ConfigError``, exit 2), unless ``repair`` (``import --reread --replace``): then it
    reads this run's files and stays with them, and the record is unchanged. A repair
    refuses a file's or variable's other value, naming the flag that asks for it.
    """
    if recorded is None:
        return settings
    differing = _differing(settings, recorded)
    flagged = [name for name in differing if _flagged(settings, name)]
    if flagged and not repair:
        raise ConfigError("; ".join(_refusal(settings, recorded, n) for n in flagged))
    mine = recorded.as_settings()
    unflagged = [name for name in differing if name not in flagged]
    if repair and unflagged:
        # A repair reads with what is asked for now; a file's or variable's other value
        # may be left over, so neither it nor the recorded one is picked in its place.
        raise ConfigError("; ".join(_repair_refusal(settings, mine, n) for n in unflagged))
    for name in (n for n in differing if n not in flagged):
        log.warning(
            "recorded_setting_kept",
            setting=name,
            configured=getattr(settings, name),
            configured_in=settings.origins[name],
            recorded=mine[name],
            instance=settings.instance_name,
            fix=f"to read in {getattr(settings, name)!r} from now on: csv-import-daemon db "
            f"settings --{name.replace('_', '-')} {getattr(settings, name)}; else remove "
            f"{name} from {settings.origins[name]}",
        )
    values = {
        name: value
        for name, value in mine.items()
        if name in _set_in(recorded) and (name not in settings.given or name not in flagged)
    }
    return dataclasses.replace(settings, **values)


def settle(engine: Engine, settings: Settings, *, record: bool, repair: bool = False) -> Settings:
    """The settings a command runs with: the recorded ones applied (``apply``); with
    ``record`` (a command that imports), the first use records them."""
    with engine.connect() as conn:
        recorded = load(conn, settings.instance_name)
    settled = apply(settings, recorded, repair=repair)
    if not record or not _to_save(settled, recorded, repair=repair):
        return settled
    # Only now a write transaction (BEGIN IMMEDIATE): a command beside a running daemon
    # does not wait for its write lock just to read the record. Checked again under it.
    with writing(engine) as conn:
        recorded = load(conn, settings.instance_name)
        settled = apply(settings, recorded, repair=repair)
        if _to_save(settled, recorded, repair=repair):
            save(conn, settings.instance_name, Recorded.of(settled), exists=recorded is not None)
    return settled


def _to_save(settled: Settings, recorded: Recorded | None, *, repair: bool) -> bool:
    """First use, or a setting not set yet given now (``apply`` refused the others); never
    a repair's, which stay with the files it repairs (a first command may be a repair)."""
    return not repair and (recorded is None or Recorded.of(settled) != recorded)


def change(engine: Engine, settings: Settings) -> Recorded:
    """``db settings``: record the values given (the rest stay as recorded, or as in force
    when nothing was recorded yet); the record as it is now."""
    with writing(engine) as conn:
        recorded = load(conn, settings.instance_name)
        base = recorded.as_settings() if recorded is not None else {}
        values = {
            name: getattr(settings, name)
            for name in RECORDED_SETTINGS
            if name in settings.given or name not in base
        }
        new = Recorded.of(dataclasses.replace(settings, **{**base, **values}))
        save(conn, settings.instance_name, new, exists=recorded is not None)
    return new
