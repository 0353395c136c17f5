"""The trading day: it rolls over at ``trading_day_rollover`` (a clock time in a time zone).

With the default ``17:00 America/Chicago`` (the CME Globex open), a fill at 17:30 Chicago
time on Monday belongs to Tuesday's trading day. The one home of that rule: round trips,
P&L, the journal page and the archiver all ask a ``Rollover``.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time

from csv_import_daemon.errors import ConfigError

_ROLLOVER = re.compile(r"^\s*(\d{1,2}):(\d{2})\s+(\S+)\s*$")
_MIDNIGHT = clock_time(0, 0)


@dataclass(frozen=True, slots=True)
class Rollover:
    """When a new trading day starts: a wall-clock time in an IANA zone."""

    at: clock_time
    zone: zoneinfo.ZoneInfo

    def day_of(self, moment: datetime) -> date:
        """The trading day of ``moment`` (aware, or naive UTC as stored)."""
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        local = aware.astimezone(self.zone)
        if self.at != _MIDNIGHT and local.time() >= self.at:
            return local.date() + timedelta(days=1)
        return local.date()

    def start_of(self, day: date) -> datetime:
        """The first instant (naive UTC, as stored) of trading day ``day``."""
        first = day - timedelta(days=1) if self.at != _MIDNIGHT else day
        local = datetime.combine(first, self.at, self.zone)
        return local.astimezone(UTC).replace(tzinfo=None)


def parse_rollover(text: str, origin: str = "trading_day_rollover") -> Rollover:
    """``"HH:MM Zone/Name"``, e.g. ``"17:00 America/Chicago"`` or ``"00:00 UTC"``."""
    allowed = 'use "HH:MM ZONE", e.g. "17:00 America/Chicago" or "00:00 UTC"'
    match = _ROLLOVER.match(text) if isinstance(text, str) else None
    if match is None:
        raise ConfigError(f"trading_day_rollover (from {origin}): {text!r} is not valid; {allowed}")
    hour, minute, name = int(match.group(1)), int(match.group(2)), match.group(3)
    if hour > 23 or minute > 59:
        raise ConfigError(
            f"trading_day_rollover (from {origin}): {text!r} is not a clock time; {allowed}"
        )
    try:
        zone = zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"trading_day_rollover (from {origin}): {name!r} is not an IANA time zone; {allowed}"
        ) from None
    return Rollover(clock_time(hour, minute), zone)
