"""Settings written as TOML tables: validated here, with messages that say what is allowed."""

from __future__ import annotations

import json
from typing import Any

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
    "action_aliases": ("Buy", "Sell", "BuyToCover", "SellShort"),
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
