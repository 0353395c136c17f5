"""``verify``'s own reading of stored values, independent of the importer's parser.

The audit re-reads a file with the importer's rules, so a wrong rule (a date order settled
wrongly, a zone, a build that rounded prices) agrees with itself. Here each stored row is
compared with the raw text read by a separate, plain reading: the time under both date
orders and the UTC offset of the file's recorded zone, and the price and commission as
exact decimals under the file's decimal mark. What fits only another order, another zone or
another value is a reading problem, and ``verify`` fails on it.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from csv_import_daemon.db.corrections import MINUTE_ONLY, UNKNOWN

_TIME = re.compile(
    r"^\s*(\d{1,4})[./-](\d{1,2})[./-](\d{2,4})[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?"
    r"(?:[.,](\d{1,6}))?\s*([AaPp])?\.?\s*(?:[Mm]\.?)?\s*$"
)
_NOT_NUMBER = re.compile(r"[^\d.,+\-()]")
EXAMPLES = 5  # rows named per problem; the count covers every row


def local_times(text: str, only: str | None = None) -> dict[str, datetime]:
    """The wall-clock readings of ``text`` by date order (``ymd``, or ``mdy``/``dmy``);
    ``only``: just that order's (and ``ymd``), the common case of a row that fits."""
    m = _TIME.match(text)
    if m is None:
        return {}
    a, b, c, hour, minute = (int(m.group(i)) for i in range(1, 6))
    second = int(m.group(6) or 0)
    micro = int((m.group(7) or "0").ljust(6, "0")[:6])
    if m.group(8):  # 12-hour clock
        if not 1 <= hour <= 12:
            return {}
        hour = hour % 12 + (12 if m.group(8).lower() == "p" else 0)
    orders = {"ymd": (a, b, c)} if len(m.group(1)) == 4 else {"mdy": (c, a, b), "dmy": (c, b, a)}
    out = {}
    for order, (year, month, day) in orders.items():
        if only is not None and order not in (only, "ymd"):
            continue
        try:
            full = year + 2000 if year < 100 else year
            out[order] = datetime(full, month, day, hour, minute, second, micro)
        except ValueError:
            continue
    return out


def plain_decimal(text: str, mark: str | None) -> Decimal | None:
    """``text`` as an exact decimal under ``mark`` (the other mark groups thousands)."""
    raw = _NOT_NUMBER.sub("", text)
    negative = raw.startswith("-") or (raw.startswith("(") and raw.endswith(")"))
    raw = raw.strip("-+()")
    if not raw or mark not in (".", ","):
        return None
    other = "," if mark == "." else "."
    raw = raw.replace(other, "").replace(mark, ".")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    return -value if negative else value


def _utc(local: datetime, zone: zoneinfo.ZoneInfo, offsets: dict[Any, timedelta]) -> datetime:
    # The zone's offset changes at most hourly: looked up once per local hour.
    key = (local.date(), local.hour, local.fold)
    offset = offsets.get(key)
    if offset is None:
        offset = offsets[key] = local.replace(tzinfo=zone).utcoffset() or timedelta(0)
    return local - offset


@dataclass(slots=True)
class ReadingCheck:
    """The reading problems of one file: how many rows each, and a few of them."""

    zone: zoneinfo.ZoneInfo
    zone_name: str
    date_order: str | None
    decimal_mark: str | None
    problems: dict[str, dict[str, Any]] = field(default_factory=dict)
    _offsets: dict[Any, timedelta] = field(default_factory=dict)

    def _add(self, kind: str, message: str, line: int) -> None:
        entry = self.problems.setdefault(kind, {"kind": kind, "message": message, "rows": 0})
        entry["rows"] += 1
        entry.setdefault("lines", [])
        if len(entry["lines"]) < EXAMPLES:
            entry["lines"].append(line)

    def row(self, line: int, time: str | None, prices: dict[str, str], stored: Any) -> None:
        """Compare one stored trade with the row's raw ``time`` and ``prices`` texts."""
        if time is not None:
            whole = getattr(stored, "time_precision", None) in (MINUTE_ONLY, UNKNOWN)
            self._time(line, time, stored.executed_at, whole=whole)
        for name, text in prices.items():
            value = plain_decimal(text, self.decimal_mark)
            kept = getattr(stored, name)
            if value is not None and kept is not None and Decimal(kept) != value:
                self._add(
                    f"{name}_differs",
                    f"stored {name} values differ from the file's text read as plain "
                    f"decimals with decimal mark {self.decimal_mark!r}",
                    line,
                )

    def _time(self, line: int, text: str, stored: datetime, *, whole: bool = False) -> None:
        """``whole``: the stored time is a whole minute a re-save wrote (or one stored before
        seconds were told apart), so this text's exact time is compared to the minute."""
        m = _TIME.match(text)
        if m is not None and m.group(6) is None:  # no seconds written (a re-save): its minute
            stored = stored.replace(second=0, microsecond=0)
        own = local_times(text, self.date_order or "")
        if whole and stored.second == 0 and stored.microsecond == 0:
            own = {o: t.replace(second=0, microsecond=0) for o, t in own.items()}
        if any(_utc(t, self.zone, self._offsets) == stored for t in own.values()):
            return  # the common case: it fits the checkpoint's order and zone
        readings = local_times(text)
        if whole and stored.second == 0 and stored.microsecond == 0:
            readings = {o: t.replace(second=0, microsecond=0) for o, t in readings.items()}
        fits = {o for o, t in readings.items() if _utc(t, self.zone, self._offsets) == stored}
        if not readings or fits & {"ymd", self.date_order or ""}:
            return
        if fits and self.date_order is None:
            return  # an order still unsettled: only rows that read one way were stored
        if fits:
            other = fits.pop()
            self._add(
                "date_order",
                f"stored times fit only date order {other}, but the checkpoint says "
                f"{self.date_order}",
                line,
            )
            return
        only = next(iter(readings.values())) if len(readings) == 1 else None
        mine = readings.get(self.date_order or "") or only
        if mine is not None:
            hours = (mine - stored).total_seconds() / 3600
            self._add(
                "zone",
                f"stored times were read in another zone (UTC{hours:+g} h) than the "
                f"checkpoint says ({self.zone_name})",
                line,
            )

    def as_list(self) -> list[dict[str, Any]]:
        return list(self.problems.values())
