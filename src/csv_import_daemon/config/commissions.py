"""Commission schedules by instrument root: the broker's fees for fills whose file gives none.

Simulation, playback and some add-ons write no commission (an empty cell, no column) or a
``$0.00``. The ``[commissions]`` table gives, per root (``MNQ``, ``ES``, ``FDAX``: the root
``point_values`` uses, whatever the instrument's name style), a rate per side (per contract
per fill) or per round turn (half on each side), in a currency named by its ISO code, and
whether it also replaces a genuine zero (``apply_to_zero``, off by default: a ``$0.00`` the
file wrote is kept). A fill's scheduled commission is the rate x its quantity, exact. A root
without an entry gets none: nothing is guessed.

Where a fill's commission came from is kept with it (``trades.commission_source``):
``file``, ``schedule`` (the file gave none), ``schedule_over_zero`` (the file's zero was
replaced), or null (neither gave one).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from csv_import_daemon.config.point_values import instrument_root
from csv_import_daemon.errors import ConfigError

FILE, SCHEDULE, SCHEDULE_OVER_ZERO = "file", "schedule", "schedule_over_zero"
_ROOT = re.compile(r"^[A-Z0-9]{1,10}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_PLACES = 8  # trades.commission is NUMERIC(20, 8): a rate x a whole quantity fits exactly
# Per contract per side: a typo above it, not a fee; and so a rate x any quantity (at most
# 2,147,483,647) fits NUMERIC(20, 8).
_MAX_RATE = Decimal(400)
_KEYS = ("per_side", "round_turn", "currency", "apply_to_zero")
_EXAMPLE = '[commissions.MNQ] per_side = "0.62", currency = "USD", apply_to_zero = false'


@dataclass(frozen=True, slots=True)
class CommissionRate:
    """One root's schedule: ``per_side`` per contract per fill, in ``currency``."""

    per_side: Decimal
    currency: str
    apply_to_zero: bool = False


class CommissionSchedule:
    """The configured rates, looked up by an instrument's root (cached per name)."""

    def __init__(self, entries: Mapping[str, CommissionRate] | None = None) -> None:
        self.table: dict[str, CommissionRate] = dict(entries or {})
        self._by_instrument: dict[str, CommissionRate | None] = {}

    def __bool__(self) -> bool:
        return bool(self.table)

    def rate(self, instrument: str) -> CommissionRate | None:
        try:
            return self._by_instrument[instrument]
        except KeyError:
            found = self.table.get(instrument_root(instrument))
            if len(self._by_instrument) < 65536:
                self._by_instrument[instrument] = found
            return found

    def applied(
        self,
        instrument: str,
        quantity: int,
        commission: Decimal | None,
        currency: str | None,
    ) -> tuple[Decimal | None, str | None, str | None]:
        """The commission, its currency and its source for a fill whose file gave
        ``commission`` (None: nothing) in ``currency``."""
        if commission is not None and commission:
            return commission, currency, FILE
        rate = self.rate(instrument)
        if rate is None or (commission is not None and not rate.apply_to_zero):
            return commission, currency, None if commission is None else FILE
        source = SCHEDULE if commission is None else SCHEDULE_OVER_ZERO
        return rate.per_side * quantity, rate.currency, source


def file_reading(
    commission: Decimal | None, currency: str | None, source: str | None
) -> tuple[Decimal | None, str | None]:
    """What the file itself gave, from a stored fill: a scheduled commission replaced
    nothing (``schedule``) or a zero (``schedule_over_zero``, its currency not kept)."""
    if source == SCHEDULE:
        return None, None
    if source == SCHEDULE_OVER_ZERO:
        return Decimal(0), None
    return commission, currency


def parse_commissions(raw: Any, origin: str) -> tuple[tuple[str, CommissionRate], ...]:
    """The ``commissions`` setting: a table of ROOT = { per_side | round_turn, currency,
    apply_to_zero }, amounts as decimal strings (or whole numbers), never floats."""
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"commissions (from {origin}): {raw!r} is not a table; use e.g. {_EXAMPLE}"
        )
    out: list[tuple[str, CommissionRate]] = []
    for key, spec in raw.items():
        root = str(key).strip().upper()
        where = f"commissions.{key} (from {origin})"
        if not _ROOT.match(root):
            raise ConfigError(f"{where}: {key!r} is not an instrument root; use letters/digits")
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where}: {spec!r} is not a table; use e.g. {_EXAMPLE}")
        unknown = sorted(set(spec) - set(_KEYS))
        if unknown:
            raise ConfigError(
                f"{where}: unknown key {unknown[0]!r}; use {', '.join(_KEYS)} (e.g. {_EXAMPLE})"
            )
        given = [k for k in ("per_side", "round_turn") if k in spec]
        if len(given) != 1:
            raise ConfigError(
                f"{where}: give exactly one of per_side (per contract per fill) or "
                f"round_turn (per contract, entry and exit together: half per side)"
            )
        amount = _amount(spec[given[0]], f"commissions.{key}.{given[0]} (from {origin})")
        per_side = amount if given[0] == "per_side" else amount / 2
        if per_side > _MAX_RATE:
            raise ConfigError(f"{where}: {amount} is more than {_MAX_RATE} per contract per side")
        if _places(per_side) > _PLACES:
            raise ConfigError(f"{where}: {amount} per side has more than {_PLACES} decimal places")
        if "currency" not in spec:
            raise ConfigError(f'{where}: currency is required, an ISO code such as "USD"')
        currency = spec["currency"]
        text = currency.strip().upper() if isinstance(currency, str) else ""
        if not _CURRENCY.match(text):
            raise ConfigError(
                f"{where}: currency {currency!r} is not a 3-letter ISO code such as USD, EUR"
            )
        apply_to_zero = spec.get("apply_to_zero", False)
        if not isinstance(apply_to_zero, bool):
            raise ConfigError(
                f"{where}: apply_to_zero {apply_to_zero!r} is not a boolean; use true or false"
            )
        out.append((root, CommissionRate(per_side, text, apply_to_zero)))
    return tuple(out)


def _amount(value: Any, where: str) -> Decimal:
    if isinstance(value, float):
        raise ConfigError(
            f"{where}: {value!r} is a floating-point number, which cannot hold money exactly; "
            f'write it as a string: "{value}"'
        )
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConfigError(f'{where}: {value!r} is not a decimal; use a string such as "0.62"')
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ConfigError(f'{where}: {value!r} is not a decimal number such as "0.62"') from None
    if not number.is_finite() or number < 0:
        raise ConfigError(f"{where}: {value!r} must be a decimal number of 0 or more")
    return number


def _places(number: Decimal) -> int:
    exponent = number.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0
