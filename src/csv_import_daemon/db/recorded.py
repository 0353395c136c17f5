"""The settings that decide stored values, recorded per instance in the journal.

The source zone, the date order and decimal mark when set (not ``auto``) and the default
account are recorded when an instance first imports. A command that does not give one
(file, environment or flag) uses the recorded value, so a later ``import`` or ``status``
never falls back to the host's zone; one that gives another value is refused (exit 2)
with the recorded value and the two ways to change it: ``db settings`` for the journal, or
``import --reread --replace`` to repair files (which changes nothing recorded).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, inspect, select

from csv_import_daemon.config.settings import RECORDED_SETTINGS, Settings
from csv_import_daemon.db.engine import writing
from csv_import_daemon.db.tables import RECORDED, utc_now
from csv_import_daemon.errors import ConfigError

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


def _differences(settings: Settings, recorded: Recorded) -> list[str]:
    """The settings given with a value other than the recorded one, as sentences."""
    mine = recorded.as_settings()
    out = []
    for name in _set_in(recorded):
        if name in settings.given and getattr(settings, name) != mine[name]:
            flag = name.replace("_", "-")
            shown = mine[name] if mine[name] is not None else "none"
            out.append(
                f"{name} is {getattr(settings, name)!r} here, but this journal records "
                f"{shown!r} for instance {settings.instance_name!r}; "
                + CHANGE_HINT.format(flag=flag)
            )
    return out


def apply(settings: Settings, recorded: Recorded | None, *, repair: bool = False) -> Settings:
    """``settings`` with the recorded values for what was not given.

    A given value that differs from the recorded one is refused (``ConfigError``, exit 2),
    unless ``repair`` (``import --reread --replace``): then it reads this run's files and
    stays with them, and the record is unchanged.
    """
    if recorded is None:
        return settings
    if not repair:
        differences = _differences(settings, recorded)
        if differences:
            raise ConfigError("; ".join(differences))
    values = {
        name: value
        for name, value in recorded.as_settings().items()
        if name not in settings.given and name in _set_in(recorded)
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
