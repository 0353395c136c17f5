"""Field parsers for NinjaTrader execution CSVs: numbers, money and local wall-clock times.

Each parser tries a fast path that fits the clean values nearly every row holds and only
then the general path for regional variants. They return None for values they refuse, so
the row parser can name the column and the value in its error.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Literal

DateOrder = Literal["mdy", "dmy"]

# The database stores money and prices as NUMERIC(20, 8): more digits would be rounded there.
MAX_FRACTION_DIGITS = 8
MAX_INTEGER_DIGITS = 12
MAX_QUANTITY = 2**31 - 1  # INTEGER column
MIN_YEAR, MAX_YEAR = 1900, 2999  # keeps UTC conversion far from datetime's limits

# Values meaning "no amount" in a money column.
EMPTY_MONEY = frozenset({"", "-", "\u2013", "\u2014"})

# sign, optional currency text around it, digits with separators, parentheses for negatives
_NUMBER_RE = re.compile(
    r"(?P<open>\()?(?P<pre>[^0-9().,+\-\u2212]*)(?P<sign>[+\-\u2212])?"
    r"(?P<pre2>[^0-9().,+\-\u2212]*)(?P<num>[0-9.,]*[0-9])"
    r"(?P<post>[^0-9().,+\-\u2212]*)(?P<tsign>-)?(?P<close>\))?"
)
_NOT_CURRENCY_WORDS = frozenset({"e", "nan", "inf"})
_MAX_NUMBER_TEXT = 64


def _is_currency(text: str, letters: bool) -> bool:
    """True for currency markers such as "$", "€", "US$", "kr", "EUR" (letters only for money)."""
    if not text:
        return True
    word = []
    for char in text:
        if char.isalpha():
            word.append(char)
        elif unicodedata.category(char) != "Sc":
            return False
    if not word:
        return True
    name = "".join(word).casefold()
    # Exponents ("5e") and NaN/Infinity spellings must not pass as a currency code.
    return letters and len(name) <= 3 and name not in _NOT_CURRENCY_WORDS


def _ungroup(whole: str, sep: str) -> str | None:
    """'20,015' -> '20015'; None unless every group after the first has exactly 3 digits."""
    if sep not in whole:
        return whole
    groups = whole.split(sep)
    if not 1 <= len(groups[0]) <= 3 or any(len(group) != 3 for group in groups[1:]):
        return None
    return "".join(groups)


def _plain_digits(num: str, decimal_comma: bool) -> str | None:
    """Digits with "." and "," -> canonical "1234.50", deciding which one is the decimal mark."""
    has_dot, has_comma = "." in num, "," in num
    if has_dot and has_comma:
        # Both present: the last one is the decimal separator.
        dec, sep = (".", ",") if num.rfind(".") > num.rfind(",") else (",", ".")
        whole, _, frac = num.rpartition(dec)
        grouped = _ungroup(whole, sep)
        return None if grouped is None or dec in whole else f"{grouped or '0'}.{frac}"
    if not has_dot and not has_comma:
        return num
    mark = "." if has_dot else ","
    if num.count(mark) > 1:
        return _ungroup(num, mark)
    whole, _, frac = num.partition(mark)
    if mark != ("," if decimal_comma else "."):
        # The other locale's mark alone: "20,015" groups thousands, "0,62" is a decimal.
        if len(frac) == 3:
            return _ungroup(num, mark)
        if len(frac) > 3:
            return None
    return f"{whole or '0'}.{frac}"


def _fits(value: Decimal) -> bool:
    _, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):  # NaN or Infinity
        return False
    return exponent >= -MAX_FRACTION_DIGITS and len(digits) + exponent <= MAX_INTEGER_DIGITS


def _parse_general(text: str, decimal_comma: bool, letters: bool) -> Decimal | None:
    if len(text) > _MAX_NUMBER_TEXT:  # also keeps the regex's backtracking short
        return None
    # Any whitespace goes, (narrow) no-break spaces included: they group thousands in
    # French locales and separate the currency symbol.
    match = _NUMBER_RE.fullmatch("".join(text.split()))
    if match is None:
        return None
    opened, closed = match["open"] is not None, match["close"] is not None
    signs = [s for s in (match["sign"], match["tsign"]) if s is not None]
    if opened != closed or len(signs) + opened > 1:
        return None
    if not all(_is_currency(match[key], letters) for key in ("pre", "pre2", "post")):
        return None
    digits = _plain_digits(match["num"], decimal_comma)
    if digits is None:
        return None
    negative = opened or (bool(signs) and signs[0] != "+")
    return Decimal(f"-{digits}" if negative else digits)


def parse_decimal(text: str, decimal_comma: bool, money: bool = False) -> Decimal | None:
    """Stripped number text -> exact finite Decimal, or None.

    Handles thousands separators, the other locale's decimal mark, and with ``money`` also
    currency symbols or codes and "(1.50)" negatives. Never accepts exponents, NaN or
    Infinity, and refuses values the NUMERIC(20, 8) column could not hold exactly.
    """
    plain = text
    if decimal_comma:
        # A "." there groups thousands ("1.234,50"): leave that to the general path.
        plain = "" if "." in text else text.replace(",", ".")
    whole, dot, frac = plain.partition(".")
    # Fast path: plain ASCII digits with at most one "." (Decimal alone would also take
    # "1e5", "NaN", "1_000" and non-ASCII digits, hence the checks).
    if plain.isascii() and whole.isdigit() and (frac.isdigit() or not dot):
        if len(frac) > MAX_FRACTION_DIGITS or len(whole.lstrip("0")) > MAX_INTEGER_DIGITS:
            return None
        return Decimal(plain)
    value = _parse_general(text, decimal_comma, letters=money)
    return value if value is not None and _fits(value) else None


def parse_quantity(text: str, decimal_comma: bool) -> int | None:
    """Stripped quantity text -> positive int that fits the INTEGER column, or None."""
    if len(text) <= 9 and text.isascii() and text.isdigit():
        quantity = int(text)
    else:
        value = parse_decimal(text, decimal_comma)
        if value is None or value != value.to_integral_value():
            return None
        quantity = int(value)
    return quantity if 0 < quantity <= MAX_QUANTITY else None


# --- dates and times -------------------------------------------------------------------

# d/m/y, m/d/y or y/m/d with one separator, or a compact ddMMyyyy (one add-on, German rows).
_DATE_RE = re.compile(r"(\d{1,4})([/.\-])(\d{1,2})\2(\d{1,4})|(\d{2})(\d{2})(\d{4})", re.ASCII)
_DATETIME_RE = re.compile(
    r"(?P<date>\d{1,4}([/.\-])\d{1,2}\2\d{1,4}|\d{8})(?:T|\s+)"
    r"(?P<h>\d{1,2})[:.](?P<mi>\d{2})(?:[:.](?P<s>\d{2}))?"
    r"\s*(?:(?P<ampm>[AaPp])\.?\s?[Mm]\.?)?",
    re.ASCII,
)


def date_parts(text: str) -> tuple[int, int, int, bool] | None:
    """'1/28/2025' -> (1, 28, 2025, False); ISO '2025-01-28' -> (2025, 1, 28, True);
    compact '16092026' -> (16, 9, 2026, False) (see ``is_compact``)."""
    match = _DATE_RE.fullmatch(text)
    if match is None:
        return None
    if match[5] is not None:
        return int(match[5]), int(match[6]), int(match[7]), False
    first, _, second, third = match.groups()[:4]
    if len(first) == 4:
        return int(first), int(second), int(third), True
    if len(first) > 2 or len(third) == 3:
        return None
    return int(first), int(second), int(third), False


def is_compact(date_text: str) -> bool:
    """'16092026': the compact ddMMyyyy date, only ever written day-first."""
    return len(date_text) == 8 and date_text.isascii() and date_text.isdigit()


def _resolve(text: str, order: DateOrder) -> date | None:
    parts = date_parts(text)
    if parts is None:
        return None
    first, second, third, iso = parts
    if iso:
        year, month, day = parts[:3]
    else:
        if order == "mdy" and is_compact(text):
            return None  # ddMMyyyy is never month-first
        year = third + 2000 if third < 100 else third  # two-digit years: this century
        month, day = (first, second) if order == "mdy" else (second, first)
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def resolve_date(text: str, order: DateOrder | None) -> date | None:
    """Date part of a time value -> date under ``order`` (ISO needs no order), or None.

    ``order`` None (nothing settled the file's order): the date only when it cannot be
    read two ways ('05/05/2026', '2026-08-03', '28/08/2026'); a compact date never.
    """
    if order is not None:
        return _resolve(text, order)
    if is_compact(text):
        return None
    mdy, dmy = _resolve(text, "mdy"), _resolve(text, "dmy")
    if mdy is None or dmy is None or mdy == dmy:
        return mdy or dmy
    return None


def wall_date(text: str) -> str | None:
    """A date part as a stand-in reads it, without a date order: month-first when it can
    be read so, else day-first ('1/2/2025' and '01/02/2025' -> '2025-1-2', '28/1/2025' ->
    '2025-1-28'); ISO as it says. So a repaired date order keeps the stand-in. None when no
    order reads it."""
    day = resolve_date(text, "mdy") or resolve_date(text, "dmy")
    return None if day is None else f"{day.year}-{day.month}-{day.day}"


def wall_minute(text: str) -> str | None:
    """A time value as a stand-in reads it: ``wall_date`` and the local hour (24-hour) and
    minute, no zone, no seconds ('1/28/2025 1:10:38 PM' and '01/28/2025 13:10' ->
    '2025-1-28 13:10'). None when it is no time."""
    if len(text) > _MAX_NUMBER_TEXT:
        return None
    match = _DATETIME_RE.fullmatch(text.strip())
    if match is None:
        return None
    day = wall_date(match["date"])
    hour, minute = int(match["h"]), int(match["mi"])
    ampm = match["ampm"]
    if ampm is not None:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm in "Pp" else 0)
    if day is None or hour > 23 or minute > 59:
        return None
    return f"{day} {hour}:{minute}"


def written_to_minute(text: str) -> bool:
    """A time value written without seconds ('05/13/2026 13:10', a spreadsheet's re-save):
    exact only to its minute. '13:10:00' is written with seconds."""
    match = _DATETIME_RE.fullmatch(text.strip()) if len(text) <= _MAX_NUMBER_TEXT else None
    return match is not None and match["s"] is None


def _date_of(value: str) -> str:
    return value.strip().replace("T", " ", 1).partition(" ")[0]


def reads_both_ways(value: str) -> bool:
    """A time whose date reads as two different days month-first and day-first, or a
    compact date (read only day-first): the file's date order decides it."""
    date_text = _date_of(value)
    if is_compact(date_text):
        return _resolve(date_text, "dmy") is not None
    mdy, dmy = _resolve(date_text, "mdy"), _resolve(date_text, "dmy")
    return mdy is not None and dmy is not None and mdy != dmy


def date_order_from_times(values: Iterable[str]) -> DateOrder | None:
    """'28/1/2025 ...' -> 'dmy', '1/28/2025 ...' -> 'mdy'; None if no value settles it.

    A compact date shows day-first only by a day above 12 (it is never month-first)."""
    for value in values:
        date_text = _date_of(value)
        parts = date_parts(date_text)
        if parts is None or parts[3]:  # unparseable or ISO (year first: no doubt)
            continue
        first, second = parts[0], parts[1]
        if first > 12 >= second:
            return "dmy"
        if second > 12 >= first and not is_compact(date_text):
            return "mdy"
    return None


# Lookup tables for the fast path: a dict hit both validates and converts.
_HOUR24 = {key: h for h in range(24) for key in (str(h), f"{h:02d}")}
_AM = {key: h % 12 for h in range(1, 13) for key in (str(h), f"{h:02d}")}
_PM = {key: h % 12 + 12 for h in range(1, 13) for key in (str(h), f"{h:02d}")}
_AMPM = {"AM": _AM, "am": _AM, "PM": _PM, "pm": _PM}
_NO_HOURS: dict[str, int] = {}
_MINSEC = {
    f"{m:02d}:{s:02d}": timedelta(minutes=m, seconds=s) for m in range(60) for s in range(60)
}
_MINSEC.update({f"{m:02d}": timedelta(minutes=m) for m in range(60)})
_ZERO = timedelta(0)
_DAY_CACHE_LIMIT = 4096
_CLOCK_CACHE_LIMIT = 65536


def _to_utc(local: datetime, tz: tzinfo) -> datetime:
    """Naive local wall time -> naive UTC; fold=0 picks the earlier of ambiguous times."""
    offset = local.replace(tzinfo=tz).utcoffset() or _ZERO
    return local - offset


class TimeReader:
    """Local time text -> naive UTC datetime for one file's date order and time zone.

    Caches, per date text, the UTC start of each local hour (the offset is constant within
    an hour), and the parsed clock text, which repeats across days. A date caches as ()
    when invalid or when its zone changes the offset mid-hour somewhere that day (Lord
    Howe's 30-minute shift): those rows take the exact path.
    """

    __slots__ = ("_order", "_tz", "clocks", "days")

    def __init__(self, order: DateOrder | None, tz: tzinfo) -> None:
        # None: the file's order is not settled; dates that read two ways give None.
        self._order: DateOrder | None = order
        self._tz = tz
        self.days: dict[str, tuple[datetime, ...]] = {}
        self.clocks: dict[str, tuple[int, timedelta]] = {}

    def parse(self, text: str) -> datetime | None:
        """Text such as '1/28/2025 10:59:52 AM' -> UTC, or None when invalid.

        ``days``, ``clocks``, ``day`` and ``clock`` are public so that a caller may inline
        this fast path.
        """
        text = text.strip()
        date_text, _, clock = text.partition(" ")
        hours = self.day(date_text)
        when = self.clocks.get(clock) or self.clock(clock)
        return hours[when[0]] + when[1] if hours and when else self._exact(text)

    def clock(self, clock: str) -> tuple[int, timedelta] | None:
        """'10:59:52 AM' -> (10, 59 min 52 s), cached; None for other spellings."""
        hms, _, suffix = clock.partition(" ")
        hour_text, _, minsec = hms.partition(":")
        hour = (_AMPM.get(suffix, _NO_HOURS) if suffix else _HOUR24).get(hour_text)
        delta = _MINSEC.get(minsec)
        if hour is None or delta is None:
            return None
        when = (hour, delta)
        if len(self.clocks) < _CLOCK_CACHE_LIMIT:
            self.clocks[clock] = when
        return when

    def day(self, date_text: str) -> tuple[datetime, ...]:
        """Date text -> UTC start of each local hour, cached; () sends rows to the exact path."""
        hours = self.days.get(date_text)
        if hours is not None:
            return hours
        day = resolve_date(date_text, self._order)
        hours = ()
        if day is not None:
            tz, starts = self._tz, []
            for hour in range(24):
                start = datetime(day.year, day.month, day.day, hour)
                offset = start.replace(tzinfo=tz).utcoffset()
                if offset != start.replace(minute=59, second=59, tzinfo=tz).utcoffset():
                    break
                starts.append(start - (offset or _ZERO))
            else:
                hours = tuple(starts)
        if len(self.days) < _DAY_CACHE_LIMIT:  # keep the first ones: files repeat dates
            self.days[date_text] = hours
        return hours

    def _exact(self, text: str) -> datetime | None:
        local = parse_local_time(text, self._order)
        return None if local is None else _to_utc(local, self._tz)


def parse_local_time(text: str, order: DateOrder | None) -> datetime | None:
    """General path: any supported spelling -> naive local datetime, or None (also for a
    date that reads two ways when ``order`` is None)."""
    if len(text) > _MAX_NUMBER_TEXT:
        return None
    match = _DATETIME_RE.fullmatch(text.strip())
    if match is None:
        return None
    day = resolve_date(match["date"], order)
    hour, minute = int(match["h"]), int(match["mi"])
    second = int(match["s"] or 0)
    ampm = match["ampm"]
    if ampm is not None:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm in "Pp" else 0)
    if day is None or hour > 23 or minute > 59 or second > 59:
        return None
    return datetime(day.year, day.month, day.day, hour, minute, second)
