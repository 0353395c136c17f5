"""Who wrote a file, told by its name, and what that says about how its dates read.

- The **Executions grid export** (Control Center or Account Performance, right-click >
  Export) writes times in the PC's regional format. Its default name, ``NinjaTrader Grid
  2026-03-09 04-12 PM.csv`` (also with a 24-hour clock, ``... 16-12.csv``, or a localized
  designator, ``... 04-40 p. m..csv``), is the moment of the export: no execution in it is
  later. Grid exports of one folder come from one PC, so one settled grid export settles
  the others (folder evidence, given and taken).
- The **exporter add-on's daily file**, ``NinjaTrader_Executions_YYYYMMDD.csv``, formats
  times with the fixed pattern ``M/d/yyyy h:mm:ss tt``: month-first on every PC (only the
  separators and the am/pm word follow the culture), so it shows nothing about the PC's
  order and takes no folder evidence. Its name is the session date (the evening session
  carries the next day's); it writes a fill and then rotates, so the file can hold fills
  days later than its name, never earlier than the day before it.
- **Anything else** (a renamed export, another add-on) is read like a grid export whose
  name says nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from enum import StrEnum

from csv_import_daemon.files.names import date_from_name
from csv_import_daemon.parsing.fields import DateOrder, parse_local_time, reads_both_ways

# NinjaTrader's own zone setting may differ from the PC's clock, which names the export:
# the widest gap between two zones, UTC-12 to UTC+14.
ZONE_ALLOWANCE = timedelta(hours=26)
SESSION_ALLOWANCE = timedelta(days=1)  # the evening session carries the next day's name

# 'NinjaTrader Grid 2026-03-09 04-12 PM', '... 16-12', '... 04-40 p. m.', '... 04-40 pm'
_GRID_NAME = re.compile(
    r"ninjatrader grid (\d{4})-(\d{2})-(\d{2}) (\d{1,2})-(\d{2})(?!\d)"
    r"(?:\s?([ap])\.?\s?m\b\.?)?",
    re.IGNORECASE,
)


class Producer(StrEnum):
    GRID_EXPORT = "grid_export"
    EXECUTIONS_ADDON = "executions_addon"
    UNKNOWN = "unknown"


def producer_of(name: str) -> Producer:
    if date_from_name(name) is not None:
        return Producer.EXECUTIONS_ADDON
    if export_moment(name) is not None:
        return Producer.GRID_EXPORT
    return Producer.UNKNOWN


# The add-on's ``M/d/yyyy h:mm:ss tt``: no leading zero in month, day or hour, a 12-hour
# hour, always seconds; the separators and the am/pm word (empty on some cultures) vary.
_ADDON_TIME = re.compile(r"[1-9]\d?\W[1-9]\d?\W\d{4} (?:1[0-2]|[1-9]):\d\d:\d\d(?:\s.*)?")


def fixed_date_order(producer: Producer, times: Iterable[str] = ()) -> DateOrder | None:
    """The order a producer always writes, whatever the PC: the add-on's month-first, as
    long as every time seen is in its pattern. A spreadsheet's re-save of its file writes
    the PC's own format (``05/03/2026 13:10``), which says nothing about the order."""
    if producer is not Producer.EXECUTIONS_ADDON:
        return None
    written = (t.strip() for t in times)
    return "mdy" if all(_ADDON_TIME.fullmatch(t) for t in written if t) else None


def folder_evidence(producer: Producer) -> bool:
    """Does a file of this producer show (and take) the PC's regional date order?"""
    return producer is not Producer.EXECUTIONS_ADDON


def export_moment(name: str) -> datetime | None:
    """'NinjaTrader Grid 2026-08-10 06-10 PM.csv' -> 2026-08-10 18:10 (local), else None."""
    m = _GRID_NAME.search(name)
    if m is None:
        return None
    year, month, day, hour, minute = (int(m.group(i)) for i in range(1, 6))
    designator = m.group(6)
    if designator is not None:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if designator.lower() == "p" else 0)
    try:
        return datetime(year, month, day, hour, minute)
    except ValueError:  # hour 24 and up, minute 60 and up, 30 February
        return None


def _fits(when: datetime, moment: datetime | None, session: date | None) -> bool:
    if moment is not None and when > moment + ZONE_ALLOWANCE:
        return False
    # Write, then rotate: later days than the session date are fine, earlier are not.
    return session is None or when.date() >= session - SESSION_ALLOWANCE


def date_order_from_name(name: str, times: Iterable[str]) -> DateOrder | None:
    """The only order under which every time fits the file's name, else None.

    A time refutes an order by not fitting, so a sample of the file's times is enough."""
    moment = export_moment(name)
    session = date_from_name(name)
    if moment is None and session is None:
        return None
    # A value no order reads (a stray or broken row) is no evidence either way.
    values = [t for t in times if parse_local_time(t, None) or reads_both_ways(t)]
    fitting: list[DateOrder] = []
    for order in ("mdy", "dmy"):
        locals_ = [parse_local_time(t, order) for t in values]
        if not locals_ or any(t is None or not _fits(t, moment, session) for t in locals_):
            continue
        fitting.append(order)
    return fitting[0] if len(fitting) == 1 else None
