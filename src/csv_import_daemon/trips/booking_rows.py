"""``round_trip_bookings`` rows of a computed round trip: what its parts realized, summed
per UTC hour of their fills and commission currency, as exact integers of 1e-8.

``pnl`` and the journal page add these up in SQL (``statement``) instead of replaying every
part's FIFO joined to its trade. The FIFO gives each part's points as it matches lots
(``Trip.gains``); the rows are written beside the parts, by every path that writes parts.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from csv_import_daemon.trips.fifo import ZERO, Trip

Key = tuple[str, str]  # (account, contract)
BOOKING_COLUMNS = (
    "account",
    "contract",
    "instrument",
    "commission_currency",
    "utc_hour",
    "round_trip_id",
    "seq",
    "points",
    "commission",
    "charged",
    "places",
    "parts",
)
_EPOCH = 719163  # date(1970, 1, 1).toordinal()
_INT64 = 2**63
INEXACT = 99  # a booking's places when an amount has no exact 64-bit form (stored null)


def booking_rows(trip_id: int, key: Key, trip: Trip, first_seq: int) -> list[Any]:
    """The round trip's parts (from ``first_seq`` on) summed per UTC hour of their fills and
    commission currency: ``round_trip_bookings`` rows, flat. Exact: an amount with more
    than 8 decimal places or beyond 64 bits is stored null and its ``places`` ``INEXACT``
    (pnl then replays the round trip).
    """
    runs: dict[tuple[int, str], list[Any]] = {}
    for n, (when, gain, commission, paid_in) in enumerate(
        zip(trip.times, trip.gains, trip.commissions, trip.paid_in, strict=True)
    ):
        hour = (when.toordinal() - _EPOCH) * 24 + when.hour
        run = runs.get((hour, paid_in or ""))
        if run is None:
            run = runs[hour, paid_in or ""] = [first_seq + n, ZERO, ZERO, 0, 0, []]
        if gain:
            run[1] += gain
            run[5].append(gain)
        if commission:
            run[2] += commission
            run[3] = 1
        run[4] += 1
    account, contract = key
    short = trip.direction != "long"
    flat: list[Any] = []
    for (hour, paid_in), (seq, gained, commission, charged, parts, gains) in runs.items():
        points = _units(ZERO - gained if short else gained)
        paid = _units(commission)
        exact = points is not None and paid is not None
        flat += (
            account,
            contract,
            trip.instrument,
            paid_in,
            hour,
            trip_id,
            seq,
            points,
            paid,
            charged,
            finest_places(gained, gains) if exact else INEXACT,
            parts,
        )
    return flat


def finest_places(total: Decimal, gains: list[Decimal]) -> int:
    """The most decimal places of any part's points (trailing zeros aside), but at least 2:
    the same whichever way the prices were read (PostgreSQL gives them 8 places), and only
    worked out part by part when the sum is written with more than 2."""
    exponent = total.as_tuple().exponent  # a sum's is its finest part's
    if isinstance(exponent, int) and exponent >= -2:
        return 2
    finest = 2
    for gain in gains:
        places = gain.normalize().as_tuple().exponent
        if isinstance(places, int) and -places > finest:
            finest = -places
    return finest


def _units(value: Decimal) -> int | None:
    """``value`` in exact 1e-8 units, or None when it has finer places or needs 64 bits."""
    scaled = value.scaleb(8)
    units = int(scaled)
    return units if units == scaled and -_INT64 < units < _INT64 else None
