"""One futures contract, whatever the name style: root + expiry month.

NinjaTrader writes the same contract as ``MNQ 06-26`` (month number), ``MNQ JUN26`` (month
name), ``MNQM26`` or ``MNQM6`` (exchange code). All four are the contract ``MNQ 06-26``, the
name round trips key on and show; ``trades`` keeps each fill's text as written.

A one-digit year (``MNQM6``) names a decade only by context: it is read as the nearest
expiry on or after the fill's own month (a June 2026 fill of ``MNQM6`` is June 2026, a
July 2026 fill June 2036), never from today's date. A two-digit year is 20YY. A name in no
known style (a spot symbol, a stock) is its own contract, its text stripped.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import lru_cache
from typing import NamedTuple

MONTH_CODES = "FGHJKMNQUVXZ"  # January .. December, the exchanges' codes
MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")

_NUMBER = re.compile(r"^(\S+)\s+(\d{1,2})-(\d{2})$")  # MNQ 06-26
_NAME = re.compile(r"^(\S+)\s+([A-Z]{3})\s*(\d{2})$")  # MNQ JUN26
_CODE = re.compile(r"^([A-Z0-9]+?)([FGHJKMNQUVXZ])(\d{1,2})$")  # MNQM26, MNQM6


class Contract(NamedTuple):
    root: str
    year: int
    month: int

    @property
    def name(self) -> str:
        return f"{self.root} {self.month:02d}-{self.year % 100:02d}"


def parse_contract(instrument: str, on: date | None = None) -> Contract | None:
    """The contract an instrument name means; None when it is in no known style, or when
    its one-digit year needs a fill's date and ``on`` is None."""
    text = instrument.strip().upper()
    found: Contract | None = None
    if match := _NUMBER.match(text):
        month = int(match.group(2))
        if 1 <= month <= 12:
            found = Contract(match.group(1), 2000 + int(match.group(3)), month)
    elif match := _NAME.match(text):
        if match.group(2) in MONTH_NAMES:
            month = MONTH_NAMES.index(match.group(2)) + 1
            found = Contract(match.group(1), 2000 + int(match.group(3)), month)
    elif match := _CODE.match(text):
        found = _coded(match.group(1), MONTH_CODES.index(match.group(2)) + 1, match.group(3), on)
    return found


def _coded(root: str, month: int, digits: str, on: date | None) -> Contract | None:
    if len(digits) == 2:
        return Contract(root, 2000 + int(digits), month)
    if on is None:
        return None
    year = on.year - on.year % 10 + int(digits)
    if (year, month) < (on.year, on.month):  # that decade's contract expired before the fill
        year += 10
    return Contract(root, year, month)


def contract_of(instrument: str, on: date | None = None) -> str:
    """The contract's name (``MNQ 06-26``); the stripped text when the style is unknown."""
    contract = parse_contract(instrument, on)
    return instrument.strip() if contract is None else contract.name


@lru_cache(maxsize=4096)
def _cached(instrument: str, year: int, month: int) -> str:
    return contract_of(instrument, date(year, month, 1))


def contract_at(instrument: str, when: datetime) -> str:
    """The contract of a fill of ``instrument`` at ``when`` (cached: one call per fill)."""
    return _cached(instrument, when.year, when.month)
