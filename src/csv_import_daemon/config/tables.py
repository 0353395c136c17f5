"""Settings written as TOML tables: validated here, with messages that say what is allowed."""

from __future__ import annotations

import json
import tomllib
import zoneinfo
from collections.abc import Callable
from typing import Any

from csv_import_daemon.config.address import parse_metrics_address
from csv_import_daemon.config.commissions import parse_commissions
from csv_import_daemon.config.point_values import parse_point_values
from csv_import_daemon.config.sides import ACTIONS
from csv_import_daemon.errors import ConfigError

# What each alias table may map to (the TOML tables header_aliases, action_aliases, ...).
ALIAS_TARGETS: dict[str, tuple[str, ...]] = {
    "header_aliases": (
        "account",
        "instrument",
        "action",
        "quantity",
        "price",
        "time",
        "execution_id",
        "entry_exit",
        "position",
        "order_id",
        "name",
        "commission",
        "rate",
        "connection",
    ),
    "action_aliases": tuple(ACTIONS),
    "entry_exit_aliases": ("Entry", "Exit"),
}


def alias_table(name: str, value: Any, where: str) -> dict[str, str]:
    """A TOML table (or a JSON object in the environment) of word -> allowed target."""
    allowed = ALIAS_TARGETS[name]
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    if not isinstance(value, dict):
        raise ConfigError(
            f'{where}: expected a table of "as written" = "target" entries '
            f'(in the environment a JSON object such as {{"Konto": "account"}}); '
            f"targets allowed: {', '.join(allowed)}"
        )
    table: dict[str, str] = {}
    for word, target in value.items():
        if not isinstance(target, str) or target not in allowed:
            raise ConfigError(
                f"{where}: {word!r} -> {target!r} is not allowed; map to one of "
                f"{', '.join(allowed)}"
            )
        if not word.strip():
            raise ConfigError(f"{where}: an empty word cannot be mapped (-> {target!r})")
        table[word.strip().casefold()] = target
    return table


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


def _metrics_address(value: Any, where: str, _origin: str, typed: bool) -> str | None:
    if typed and not isinstance(value, str):
        raise ConfigError(f"{where}: {value!r} is not text; use a quoted HOST:PORT")
    return None if value in (None, "") else parse_metrics_address(str(value), where)[2]


def _zone(value: Any, where: str, _origin: str, _typed: bool) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {value!r} is not text; use a zone such as America/New_York")
    try:
        zoneinfo.ZoneInfo(value.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{where}: {value!r} is not an IANA time zone name; "
            "use a name such as America/New_York, Europe/Berlin or UTC"
        ) from None
    return value.strip()


# Setting name -> converter(value, where, origin, typed) for settings that are not a plain
# scalar of their annotated type.
Special = Callable[[Any, str, str, bool], Any]


def _aliases(name: str) -> Special:
    def convert(value: Any, where: str, _origin: str, _typed: bool) -> dict[str, str]:
        return alias_table(name, value, where)

    return convert


def _point_values(value: Any, where: str, origin: str, _typed: bool) -> Any:
    return parse_point_values(_toml_table(value, where), origin)


def _commissions(value: Any, where: str, origin: str, _typed: bool) -> Any:
    return parse_commissions(_toml_table(value, where), origin)


_SPECIAL: dict[str, Special] = {
    **{name: _aliases(name) for name in ALIAS_TARGETS},
    "metrics_address": _metrics_address,
    "point_values": _point_values,
    "commissions": _commissions,
    "display_timezone": _zone,
}


def special_setting(name: str) -> Special | None:
    """The converter of a setting that needs its own (tables, addresses), else None."""
    return _SPECIAL.get(name)
