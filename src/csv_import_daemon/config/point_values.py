"""Contract point values by instrument root, whatever the instrument's name style.

``MNQ 03-26``, ``MNQ MAR25``, ``MNQH5`` and ``MNQ SEP25`` all have the root ``MNQ``. A root
missing from the table has no point value: P&L is then unknown (null), never a guessed 1.0,
and a ``point_value_unknown`` warning is logged once per root.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import structlog

from csv_import_daemon.errors import ConfigError

# Not logs.get_logger: logs imports config, which imports this module.
log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class PointValue:
    """Money per 1.00 of price for one contract, in ``currency``."""

    value: Decimal
    currency: str = "USD"


def _usd(value: str) -> PointValue:
    return PointValue(Decimal(value), "USD")


# From the exchanges' contract specifications (docs/ninjatrader-formats.md in the README).
BUILTIN: Mapping[str, PointValue] = {
    "ES": _usd("50"),
    "MES": _usd("5"),
    "NQ": _usd("20"),
    "MNQ": _usd("2"),
    "YM": _usd("5"),
    "MYM": _usd("0.5"),
    "RTY": _usd("50"),
    "M2K": _usd("5"),
    "EMD": _usd("100"),
    "CL": _usd("1000"),
    "MCL": _usd("100"),
    "QM": _usd("500"),
    "NG": _usd("10000"),
    "QG": _usd("2500"),
    "GC": _usd("100"),
    "MGC": _usd("10"),
    "SI": _usd("5000"),
    "SIL": _usd("1000"),
    "HG": _usd("25000"),
    "MHG": _usd("2500"),
    "ZB": _usd("1000"),
    "UB": _usd("1000"),
    "ZN": _usd("1000"),
    "ZF": _usd("1000"),
    "ZT": _usd("2000"),
    "6E": _usd("125000"),
    "M6E": _usd("12500"),
    "6B": _usd("62500"),
    "6A": _usd("100000"),
    "6C": _usd("100000"),
    "6J": _usd("12500000"),
    "6S": _usd("125000"),
    "BTC": _usd("5"),
    "MBT": _usd("0.1"),
    "ETH": _usd("50"),
    "MET": _usd("0.1"),
    "FDAX": PointValue(Decimal("25"), "EUR"),
    "FDXM": PointValue(Decimal("5"), "EUR"),
    "FDXS": PointValue(Decimal("1"), "EUR"),
    "FESX": PointValue(Decimal("10"), "EUR"),
}

# "MNQH5", "ESZ25": root, one CME month code, a one- or two-digit year.
_COMPACT = re.compile(r"^([A-Z0-9]+?)[FGHJKMNQUVXZ]\d{1,2}$")
_ROOT = re.compile(r"^[A-Z0-9]{1,10}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_MAX_PLACES = 6


def instrument_root(instrument: str) -> str:
    """The contract root of a NinjaTrader instrument name (upper case)."""
    text = instrument.strip().upper()
    first, _, rest = text.partition(" ")
    if rest:  # "MNQ 03-26", "MNQ MAR25", "ES JUN26"
        return first
    compact = _COMPACT.match(text)
    return compact.group(1) if compact else text


class PointValues:
    """The built-in table with the configured additions and overrides."""

    def __init__(self, overrides: Mapping[str, PointValue] | None = None) -> None:
        self.table: dict[str, PointValue] = {**BUILTIN, **(overrides or {})}
        self._warned: set[str] = set()

    def lookup(self, instrument: str) -> PointValue | None:
        """The point value of ``instrument``; None (warned once per root) when unknown."""
        root = instrument_root(instrument)
        found = self.table.get(root)
        if found is None and root not in self._warned:
            self._warned.add(root)
            log.warning(
                "point_value_unknown",
                root=root,
                instrument=instrument,
                hint="add it to the point_values setting; P&L stays null until then",
            )
        return found


def parse_point_values(raw: Any, origin: str) -> tuple[tuple[str, PointValue], ...]:
    """The ``point_values`` setting: ``ROOT = "2.5"`` / ``2.5`` / ``{ value, currency }``."""
    allowed = (
        'a table of ROOT = "12.5" (a decimal string or number) or '
        'ROOT = { value = "25", currency = "EUR" }'
    )
    if not isinstance(raw, Mapping):
        raise ConfigError(f"point_values (from {origin}): {raw!r} is not a table; use {allowed}")
    out: list[tuple[str, PointValue]] = []
    for key, spec in raw.items():
        root = str(key).strip().upper()
        where = f"point_values.{key} (from {origin})"
        if not _ROOT.match(root):
            raise ConfigError(f"{where}: {key!r} is not an instrument root; use letters/digits")
        currency: Any = "USD"
        value: Any = spec
        if isinstance(spec, Mapping):
            unknown = set(spec) - {"value", "currency"}
            if unknown or "value" not in spec:
                raise ConfigError(f"{where}: use {{ value = ..., currency = ... }}, got {spec!r}")
            value, currency = spec["value"], spec.get("currency", "USD")
        out.append((root, PointValue(_money(value, where), _currency(currency, where))))
    return tuple(out)


def _money(value: Any, where: str) -> Decimal:
    # A TOML float such as 0.1 is read through its shortest text, so 0.1 stays 0.1.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f'{where}: {value!r} is not a decimal; use a string such as "12.5"')
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ConfigError(f"{where}: {value!r} is not a decimal number") from None
    if not number.is_finite() or number <= 0:
        raise ConfigError(f"{where}: {value!r} must be a positive decimal number")
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > _MAX_PLACES:
        raise ConfigError(f"{where}: {value!r} has more than {_MAX_PLACES} decimal places")
    return number


def _currency(value: Any, where: str) -> str:
    text = str(value).strip().upper()
    if not _CURRENCY.match(text):
        raise ConfigError(f"{where}: currency {value!r} is not a 3-letter code such as USD, EUR")
    return text
