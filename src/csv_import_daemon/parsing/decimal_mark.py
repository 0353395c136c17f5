"""The decimal mark of a file, settled from its values, and numbers read under it.

A ``;`` file may use a decimal point (an add-on's layout, Swiss regional settings), so the
delimiter settles nothing. A value such as ``4521.25``, ``1.08345``, ``7200,75`` or
``6.521,25`` shows its mark; ``110.125`` or ``2.220`` alone does not (a decimal point, or a
thousands separator under a decimal comma): such a value is read only once the file, or the
``decimal_mark`` setting, has settled the mark.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Final, Literal

from csv_import_daemon.parsing.fields import parse_decimal

DecimalMark = Literal[".", ","]


class Ambiguous:
    """The reading of a value depends on the decimal mark, and nothing has settled it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "AMBIGUOUS"


AMBIGUOUS: Final = Ambiguous()


def _number_core(text: str) -> str:
    """The digits and marks of a value: '2,05 €' -> '2,05', '(CHF 1.50)' -> '1.50'."""
    return "".join(c for c in text if c in "0123456789.,")


def mark_shown(text: str) -> DecimalMark | None:
    """The decimal mark that a number's text proves, or None when it proves none.

    '4521.25' and '1.08345' show '.', '7200,75' and '6.521,25' show ','; '110.125', '20'
    and '2.220' show nothing. A mark used several times ('1.234.567') groups thousands,
    so the other one is the decimal mark.
    """
    core = _number_core(text)
    dots, commas = core.count("."), core.count(",")
    if dots and commas:
        return "." if core.rfind(".") > core.rfind(",") else ","
    if dots + commas == 0:
        return None
    mark: DecimalMark = "." if dots else ","
    if dots + commas > 1:
        return "," if mark == "." else "."
    fraction = core.partition(mark)[2]
    return None if len(fraction) == 3 or not fraction else mark


def depends_on_mark(text: str) -> bool:
    """True for a value read differently under '.' and ',': one mark, three digits after."""
    core = _number_core(text)
    if core.count(".") + core.count(",") != 1:
        return False
    return len(core.partition("." if "." in core else ",")[2]) == 3


def mark_from_values(values: Iterable[str]) -> DecimalMark | None:
    """The mark the values show, when they all agree; None when none shows one or they
    contradict each other (then each value is read by its own evidence)."""
    found: set[DecimalMark] = set()
    for value in values:
        mark = mark_shown(value)
        if mark is not None:
            found.add(mark)
            if len(found) > 1:
                return None
    return next(iter(found), None)


def read_number(
    text: str, mark: DecimalMark | None, money: bool = False
) -> Decimal | Ambiguous | None:
    """Stripped number text -> Decimal; None when it is no number; AMBIGUOUS when ``mark``
    is unsettled and the value's reading depends on it."""
    if mark is None:
        if depends_on_mark(text):
            return AMBIGUOUS
        mark = mark_shown(text) or "."  # nothing depends on it: read by its own evidence
    return parse_decimal(text, mark == ",", money=money)
