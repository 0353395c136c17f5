"""Stand-in IDs for files without an ID column: a fill's meaning, counted in its file.

A stand-in is a hash of what a fill means (account, instrument, side, quantity, price and
the local minute as written) plus how many earlier fills of the same file mean the same.
So a spreadsheet's re-save (12 or 24 hours, seconds dropped, ``16793`` or ``16793.00``),
another column order, hidden optional columns or another zone or date order setting (a
repair) give the same IDs, and genuine identical fills are all kept. The price is the value
read, so a decimal-mark repair that changes it gives another ID (the README says so).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from decimal import Decimal
from typing import Any

from csv_import_daemon.config.sides import Side, side_of
from csv_import_daemon.parsing.fields import wall_minute

_CACHE_LIMIT = 65536


STAND_IN_PREFIX = "ntm-"  # stand-ins from a row's meaning
LEGACY_PREFIX = "nt-"  # stand-ins of releases up to 0.2.0: the row's text


def stand_in_key(
    account: str, instrument: str, action: str, quantity: int, price: str, minute: str
) -> str:
    """What a fill means, as one string: its account, instrument, side, quantity, price
    (``price_key``) and local minute as written (``fields.wall_minute``).

    Nothing here depends on a setting a repair may change (zone, date order, decimal mark)
    or on how the row was written (column order, hidden columns, 12 or 24 hours, padding,
    trailing zeros). Seconds are left out: a spreadsheet's re-save drops them.
    """
    side = "B" if side_of(action) == Side.BUY else "S"
    # unit separator: names may contain "|"
    return "\x1f".join((account, instrument, side, str(quantity), price, minute))


def stand_in_id(occurrences: dict[str, int], key: str) -> str:
    """Hash of a fill's meaning (``stand_in_key``) plus the count of earlier fills of the
    same file with the same meaning, which ``occurrences`` keeps."""
    seen = occurrences.get(key, 0)
    occurrences[key] = seen + 1
    digest = hashlib.sha256(f"{key}\x1f{seen}".encode()).hexdigest()
    return STAND_IN_PREFIX + digest[:32]


def price_key(price: Decimal) -> str:
    """A price as a stand-in reads it: the exact value without trailing zeros."""
    return format(price.normalize(), "f")


def legacy_stand_in_id(occurrences: dict[str, int], fields: list[str]) -> str:
    """The stand-in of releases up to 0.2.0: a hash of the row as written (its trimmed
    field texts) plus the count of identical earlier rows. Computed only to recognise
    executions a journal still knows under it."""
    texts = [f.strip() for f in fields]
    while texts and not texts[-1]:  # a trailing comma or not: the same row
        texts.pop()
    key = "\x1f".join(texts)  # unit separator: names may contain "|"
    seen = occurrences.get(key, 0)
    occurrences[key] = seen + 1
    digest = hashlib.sha256(f"{key}\x1f{seen}".encode()).hexdigest()
    return LEGACY_PREFIX + digest[:32]


class StandIns:
    """The stand-ins of one file, read from its first row, in order.

    ``legacy``, when a dict, collects the stand-in each row had up to release 0.2.0 (by
    line), for a journal that still holds some (``db.legacy_ids``).
    """

    __slots__ = ("_occurrences", "_prices", "legacy", "legacy_occurrences")

    def __init__(self) -> None:
        self._occurrences: dict[str, int] = {}
        self._prices: dict[str, str] = {}
        self.legacy: dict[int, str] | None = None
        self.legacy_occurrences: dict[str, int] = {}

    def of(self, draft: Any, price_text: str, time_text: str, minute: str | None) -> str:
        """The stand-in of a row read whole (``draft``, an execution being built);
        ``minute``: the time's ``wall_minute`` when the caller's caches know it."""
        priced = self._prices.get(price_text)
        if priced is None:
            priced = price_key(draft.price)
            if len(self._prices) < _CACHE_LIMIT:
                self._prices[price_text] = priced
        key = stand_in_key(
            draft.account,
            draft.instrument,
            draft.action,
            draft.quantity,
            priced,
            minute or wall_minute(time_text) or time_text,
        )
        return stand_in_id(self._occurrences, key)

    def counts(self) -> tuple[dict[str, int], dict[str, int] | None]:
        """The earlier fills counted per meaning (and per old stand-in text, when
        ``legacy`` collects them): what a read on from here needs (``resume``)."""
        return self._occurrences, self.legacy_occurrences if self.legacy is not None else None

    def resume(self, counts: tuple[dict[str, int], dict[str, int] | None]) -> None:
        """Count on from ``counts`` (taken from the parser that read up to here)."""
        self._occurrences = counts[0]
        if counts[1] is not None:
            self.legacy_occurrences = counts[1]

    def note_legacy(self, line_no: int, fields: list[str]) -> None:
        """Every row, before any rejection, as the old stand-ins counted them."""
        if self.legacy is not None:
            self.legacy[line_no] = legacy_stand_in_id(self.legacy_occurrences, fields)


def clock_minute(day: str | None, when: tuple[int, timedelta] | None) -> str | None:
    """``wall_minute`` from the parser's caches: a ``wall_date`` and a parsed clock."""
    if day is None or when is None:
        return None
    return f"{day} {when[0]}:{when[1].seconds // 60}"
