"""An independent from-scratch FIFO reference for round trips, and helpers to compare.

Written apart from the package on purpose: one contract at a time (every contract is its
own lot), plain lists, no shared code with csv_import_daemon.roundtrips. Times are naive
UTC datetimes as stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text

POINT = {"MNQ": Decimal(2), "MES": Decimal(5), "ES": Decimal(50), "NQ": Decimal(20)}
CURRENCY = {"FDAX": "EUR", "FESX": "EUR"}  # a root's P&L currency when not USD
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {m: n for n, m in enumerate(_MONTH_NAMES, 1)}
_CODES = {c: n for n, c in enumerate("FGHJKMNQUVXZ", 1)}


def ref_contract(instrument: str, when: datetime) -> str:
    """The contract a fill of ``instrument`` at ``when`` belongs to, as ``ROOT MM-YY``.

    Read by hand, apart from the package: ``MNQ 06-26``, ``MNQ JUN26``, ``MNQM26``; a
    one-digit year is the first year ending in that digit whose contract month is not
    before the fill's month. Anything else is its own contract.
    """
    name = instrument.strip().upper()
    if " " in name:
        root, _, expiry = name.partition(" ")
        expiry = expiry.strip()
        if len(expiry) == 5 and expiry[2] == "-" and expiry.replace("-", "").isdigit():
            month, year = int(expiry[:2]), 2000 + int(expiry[3:])
        elif len(expiry) == 5 and expiry[:3] in _MONTHS and expiry[3:].isdigit():
            month, year = _MONTHS[expiry[:3]], 2000 + int(expiry[3:])
        else:
            return instrument.strip()
        if not 1 <= month <= 12:
            return instrument.strip()
        return f"{root} {month:02d}-{year % 100:02d}"
    end = len(name)
    while end and name[end - 1].isdigit():
        end -= 1
    digits = name[end:]
    if not 1 <= len(digits) <= 2 or end < 2 or name[end - 1] not in _CODES:
        return instrument.strip()
    root, month = name[: end - 1], _CODES[name[end - 1]]
    if len(digits) == 2:
        year = 2000 + int(digits)
    else:
        year = min(
            y
            for y in range(when.year - 10, when.year + 11)
            if y % 10 == int(digits) and (y, month) >= (when.year, when.month)
        )
    return f"{root} {month:02d}-{year % 100:02d}"


@dataclass(frozen=True)
class RefFill:
    execution_id: str
    account: str
    instrument: str
    action: str  # Buy / Sell
    flag: str | None  # Entry / Exit / None
    quantity: int
    price: Decimal
    executed_at: datetime
    commission: Decimal
    commission_currency: str | None = None  # None: the P&L's
    commission_source: str | None = None  # file, schedule, schedule_over_zero or None


def _sign(action: str) -> int:
    return 1 if action.lower().startswith("buy") else -1


def _flag_ok(fill: RefFill, pos: int) -> bool:
    s = _sign(fill.action)
    if fill.flag == "Exit":
        return pos * s < 0
    if fill.flag == "Entry":
        return pos * s >= 0
    return True


def _ordered(fills: list[RefFill]) -> list[RefFill]:
    """Time order; within a second, flags hold where they can, then execution ID."""
    out: list[RefFill] = []
    pos = 0
    seconds = sorted({f.executed_at for f in fills})
    for second in seconds:
        left = sorted((f for f in fills if f.executed_at == second), key=lambda f: f.execution_id)
        while left:
            ok = [f for f in left if _flag_ok(f, pos)]
            chosen = ok[0] if ok else left[0]
            left.remove(chosen)
            out.append(chosen)
            pos += _sign(chosen.action) * chosen.quantity
    return out


def reference_round_trips(
    fills: Iterable[RefFill], point: dict[str, Decimal] | None = None
) -> list[dict[str, Any]]:
    """Round trips as ``round-trips --json`` reports them (decimals as Decimal)."""
    point = POINT if point is None else point
    by_key: dict[tuple[str, str], list[RefFill]] = {}
    for f in fills:
        by_key.setdefault((f.account, ref_contract(f.instrument, f.executed_at)), []).append(f)
    out: list[dict[str, Any]] = []
    for (account, contract), group in sorted(by_key.items()):
        value = point.get(contract.split(" ")[0])
        out.extend(_one_key(account, contract, _ordered(group), value))
    out.sort(key=lambda t: (t["opened_at"], t["account"], t["instrument"], t["_n"]))
    for t in out:
        del t["_n"]
    return out


def _one_key(
    account: str, contract: str, fills: list[RefFill], value: Decimal | None
) -> list[dict[str, Any]]:
    trips: list[dict[str, Any]] = []
    lots: list[Decimal] = []  # one entry price per open contract, oldest first
    direction = 0
    trip: dict[str, Any] | None = None
    for f in fills:
        s = _sign(f.action)
        units_close = min(f.quantity, len(lots)) if direction and s != direction else 0
        units_open = f.quantity - units_close
        close_comm = (
            (f.commission * units_close / f.quantity).quantize(
                Decimal("1E-8"), rounding=ROUND_HALF_EVEN
            )
            if units_open and units_close
            else (f.commission if units_close else Decimal(0))
        )
        if units_close:
            assert trip is not None
            for _ in range(units_close):
                entry = lots.pop(0)
                trip["points"] += (f.price - entry) * direction
                trip["_exit_cost"] += f.price
                trip["_exit_q"] += 1
            trip["commission"] += close_comm
            trip["executions"].append(_part(f, units_close, "exit", close_comm))
            if close_comm:
                trip["_paid"].add(f.commission_currency)
            if not lots:
                trip["closed_at"] = f.executed_at
                trips.append(trip)
                trip, direction = None, 0
        if units_open:
            if trip is None:
                direction = s
                trip = {
                    "account": account,
                    "instrument": f.instrument,  # the opening fill's, as written
                    "contract": contract,
                    "direction": "long" if s > 0 else "short",
                    "opened_at": f.executed_at,
                    "closed_at": None,
                    "quantity": 0,
                    "points": Decimal(0),
                    "commission": Decimal(0),
                    "executions": [],
                    "_entry_cost": Decimal(0),
                    "_exit_cost": Decimal(0),
                    "_exit_q": 0,
                    "_n": len(trips),
                    "_paid": set(),
                }
            lots.extend([f.price] * units_open)
            trip["quantity"] += units_open
            trip["_entry_cost"] += f.price * units_open
            trip["commission"] += f.commission - close_comm
            trip["executions"].append(_part(f, units_open, "entry", f.commission - close_comm))
            if f.commission - close_comm:
                trip["_paid"].add(f.commission_currency)
        if trip is not None:
            trip["open_quantity"] = len(lots)
    if trip is not None:
        trips.append(trip)
    for n, t in enumerate(trips):
        t["_n"] = n
        t.setdefault("open_quantity", 0)
        if t["closed_at"] is not None:
            t["open_quantity"] = 0
        t["entry_price"] = _avg(t.pop("_entry_cost"), t["quantity"])
        t["exit_price"] = _avg(t.pop("_exit_cost"), t.pop("_exit_q"))
        t["pnl"] = None if value is None else t["points"] * value
        root = contract.split(" ", maxsplit=1)[0]
        currency = None if value is None else CURRENCY.get(root, "USD")
        t["currency"] = currency
        # The commission stays in its own currency: netted only with a P&L in the same one.
        paid = {c or currency for c in t.pop("_paid")}
        t["commission_currency"] = paid.pop() if len(paid) == 1 else currency
        if paid:  # a second currency: no one sum
            t["commission"] = t["commission_currency"] = None
        same = t["commission_currency"] == currency and t["commission"] is not None
        t["net_pnl"] = t["pnl"] - t["commission"] if t["pnl"] is not None and same else None
        closed = t["quantity"] - t["open_quantity"]
        t["points_per_contract"] = _avg(t["points"], closed)
        t["trading_day"] = chicago_day(t["closed_at"] or t["opened_at"])
        opening = t["executions"][0]["execution_id"]
        named = f"{account}\x1f{t['instrument']}\x1f{opening}"
        t["id"] = hashlib.sha256(named.encode()).hexdigest()[:16]
    return trips


def _part(f: RefFill, quantity: int, role: str, commission: Decimal) -> dict[str, Any]:
    return {
        "execution_id": f.execution_id,
        "quantity": quantity,
        "role": role,
        "commission": commission,
        "commission_currency": f.commission_currency,
        "commission_source": f.commission_source,
        "price": f.price,
        "executed_at": f.executed_at,
    }


def _avg(cost: Decimal, quantity: int) -> Decimal | None:
    if quantity == 0:
        return None
    exact = cost / quantity
    if exact == exact.quantize(Decimal("1E-8")):
        return exact
    return exact.quantize(Decimal("1E-8"), rounding=ROUND_HALF_EVEN)


def chicago_day(moment: datetime) -> date:
    """The CME trading day of a naive UTC time: after 17:00 Chicago it is the next day."""
    local = moment.replace(tzinfo=UTC).astimezone(ZoneInfo("America/Chicago"))
    return local.date() + timedelta(days=1) if local.hour >= 17 else local.date()


def reference_pnl_by_day(
    fills: Iterable[RefFill], point: dict[str, Decimal] | None = None
) -> dict[tuple[str, str | None], dict[str, Decimal | None]]:
    """A broker statement: per (trading day, currency), the realized P&L of every contract
    closed that day and the commission of every fill executed that day."""
    point = POINT if point is None else point
    by_key: dict[tuple[str, str], list[RefFill]] = {}
    for f in fills:
        by_key.setdefault((f.account, ref_contract(f.instrument, f.executed_at)), []).append(f)
    out: dict[tuple[str, str | None], dict[str, Decimal | None]] = {}
    for (_account, contract), group in by_key.items():
        value = point.get(contract.split(" ")[0])
        currency = None if value is None else CURRENCY.get(contract.split(" ")[0], "USD")
        lots: list[tuple[int, Decimal]] = []  # (direction, entry price) per open contract
        for f in _ordered(group):
            day = (chicago_day(f.executed_at).isoformat(), currency)
            row = out.setdefault(day, {"pnl": Decimal(0), "commission": Decimal(0)})
            # A commission in another currency than the P&L's is booked in its own.
            paid = f.commission_currency if currency is not None else None
            if paid not in (None, currency) and f.commission:
                paid_row = out.setdefault(
                    (day[0], paid), {"pnl": Decimal(0), "commission": Decimal(0)}
                )
                assert paid_row["commission"] is not None
                paid_row["commission"] += f.commission
            else:
                assert row["commission"] is not None
                row["commission"] += f.commission
            s = _sign(f.action)
            for _ in range(f.quantity):
                if lots and lots[0][0] != s:
                    direction, entry = lots.pop(0)
                    if value is not None and row["pnl"] is not None:
                        row["pnl"] += (f.price - entry) * direction * value
                else:
                    lots.append((s, f.price))
    for (_, currency), row in out.items():
        if currency is None:
            row["pnl"] = None
    return out


def trades_of(engine: Engine) -> list[RefFill]:
    """Every stored trade, as the reference reads it."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT execution_id, account, instrument, action, entry_exit, quantity, "
                "price, executed_at, commission, commission_currency, commission_source "
                "FROM trades"
            )
        ).all()
    return [
        RefFill(
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            Decimal(str(r[6])),
            r[7] if isinstance(r[7], datetime) else datetime.fromisoformat(r[7]),
            Decimal(str(r[8])) if r[8] is not None else Decimal(0),
            r[9],
            r[10],
        )
        for r in rows
    ]


def stored_round_trips(engine: Engine) -> list[dict[str, Any]]:
    """The round_trips tables in the same shape (via the package's report query)."""
    from csv_import_daemon.config.trading_day import parse_rollover  # noqa: PLC0415
    from csv_import_daemon.trips.queries import TripFilter, load_round_trips  # noqa: PLC0415

    with engine.connect() as conn:
        return load_round_trips(conn, TripFilter(), parse_rollover("17:00 America/Chicago"))


def normalized(trips: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Decimals compared by value whatever their scale (NUMERIC(20, 8) pads zeros)."""
    out = []
    for t in trips:
        out.append(
            {
                k: (v.normalize() if isinstance(v, Decimal) else v)
                for k, v in t.items()
                if not k.startswith("_")
            }
        )
    return out


def ref_scheduled(
    instrument: str,
    quantity: int,
    cell: str,
    schedule: dict[str, tuple[Decimal, str, bool]],
) -> tuple[Decimal | None, str | None, str | None]:
    """A fill's commission, currency and source from its file's ``$``-cell and a schedule of
    root -> (per side, currency, apply_to_zero), worked out by hand: the root is the name
    before a space, or a compact name less its month code and year."""
    name = instrument.strip().upper()
    if " " in name:
        root = name.split(" ")[0]
    else:
        end = len(name)
        while end and name[end - 1].isdigit():
            end -= 1
        root = name[: end - 1] if end < len(name) and name[end - 1] in _CODES else name
    amount = Decimal(cell.replace("$", "")) if cell.strip() else None
    currency = "USD" if cell.strip().startswith("$") else None
    if amount:
        return amount, currency, "file"
    entry = schedule.get(root)
    if entry is None or (amount is not None and not entry[2]):
        return amount, currency, None if amount is None else "file"
    return entry[0] * quantity, entry[1], "schedule" if amount is None else "schedule_over_zero"
