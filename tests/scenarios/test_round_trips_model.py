"""Model-based: random fills, split into shuffled files, imported incrementally, must equal
an independent from-scratch FIFO reference and keep the conservation laws; SQLite and
PostgreSQL.

Hypothesis draws fill sequences with reversals, partial fills, same-second groups and
flags that may be wrong, splits them into files imported in random order (so older fills
arrive late: recomputed from trades) with small transactions, appends later fills in
order (continued in memory from the open round trip), and deletes some trades by hand
followed by ``--rebuild`` and more imports.
"""

from __future__ import annotations

import dataclasses
import sys
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from csv_import_daemon.config.commissions import CommissionRate
from csv_import_daemon.config.settings import Settings
from csv_import_daemon.config.trading_day import parse_rollover
from csv_import_daemon.db.engine import writing
from csv_import_daemon.files import reader
from csv_import_daemon.importing.service import ImportService
from csv_import_daemon.trips.pnl import pnl_groups
from csv_import_daemon.trips.refresh import rebuild_round_trips
from support.rows import HEADER
from support.trip_reference import (
    POINT,
    normalized,
    ref_scheduled,
    reference_pnl_by_day,
    reference_round_trips,
    stored_round_trips,
    trades_of,
)
from support.trips import assert_equal_to_a_rebuild, refreshes

RELEASE = "--release" in sys.argv
CHICAGO = parse_rollover("17:00 America/Chicago")
BASE = datetime(2025, 3, 3, 9, 30, 0)  # New York wall clock
TABLES = (
    "round_trip_state",
    "round_trip_bookings",
    "round_trip_fills",
    "round_trips",
    "trades",
    "imported_executions",
    "import_files",
    "import_rejections",
)

fill_st = st.fixed_dictionaries(
    {
        "account": st.sampled_from(["A1", "B2"]),
        "instrument": st.sampled_from(["MNQ MAR25", "MES MAR25"]),
        "action": st.sampled_from(["Buy", "Sell", "BuyToCover", "SellShort"]),
        "qty": st.integers(1, 6),
        "ticks": st.integers(0, 40),
        "second": st.integers(0, 25),  # few seconds: same-second groups are common
        # 9:30 New York, 17:30 (16:30 Chicago, before the rollover), 18:30 (after it: the
        # next trading day), or the next calendar day.
        "hours": st.sampled_from([0, 0, 8, 9, 24]),
        "flag": st.sampled_from(["Entry", "Exit", ""]),
        # "": no commission in the file, so the commissions setting decides (below).
        "commission": st.sampled_from(["$0.00", "$0.52", "$1.00", "$0.37", "$2.05", ""]),
    }
)
case_st = st.fixed_dictionaries(
    {
        "fills": st.lists(fill_st, min_size=1, max_size=35),
        "files": st.integers(1, 4),
        "assign": st.randoms(use_true_random=False),
        "batch": st.sampled_from([2, 5, 1000]),
        "delete": st.lists(st.integers(0, 34), max_size=3),
        "more": st.lists(fill_st, max_size=8),
        "later": st.lists(fill_st, min_size=1, max_size=12),
    }
)


# The commissions setting of every case: MNQ per side, MES per round turn also over a $0.00;
# the reference works each fill's commission out from its cell by hand (ref_scheduled).
SCHEDULE = {"MNQ": (Decimal("0.62"), "USD", False), "MES": (Decimal("0.675"), "USD", True)}
COMMISSIONS = (
    ("MNQ", CommissionRate(Decimal("0.62"), "USD")),
    ("MES", CommissionRate(Decimal("1.35") / 2, "USD", apply_to_zero=True)),
)


def _clock(dt: datetime) -> str:
    hour = dt.hour % 12 or 12
    ampm = "AM" if dt.hour < 12 else "PM"
    return f"{dt.month}/{dt.day}/{dt.year} {hour}:{dt.minute:02}:{dt.second:02} {ampm}"


def _line(n: int, f: dict[str, Any], *, offset: int = 0) -> str:
    price = Decimal(20000) + Decimal(f["ticks"]) * Decimal("0.25")
    when = BASE + timedelta(hours=f["hours"], seconds=f["second"] + offset)
    return (
        f"{f['instrument']},{f['action']},{f['qty']},{price},{_clock(when)},x{n:04d},"
        f"{f['flag']},-,o,n,{f['commission']},1,{f['account']},Sim,"
    )


def check(engine: Engine, cases: dict[str, dict[str, Any]] | None = None) -> None:
    """Stored round trips == the reference, and the conservation laws hold; each fill's
    commission, currency and source == the reference's from its cell and the schedule."""
    fills = trades_of(engine)
    if cases is not None:
        got = {
            f.execution_id: (f.commission, f.commission_currency, f.commission_source)
            for f in fills
        }
        expected = {}
        for f in fills:
            spec = cases[f.execution_id]
            amount, currency, source = ref_scheduled(
                spec["instrument"], spec["qty"], spec["commission"], SCHEDULE
            )
            expected[f.execution_id] = (amount or Decimal(0), currency, source)
        assert got == expected
    stored = stored_round_trips(engine)
    assert normalized(stored) == normalized(reference_round_trips(fills))
    # P&L by day, each exit and commission on its fill's trading day, == a broker statement;
    # summed over the days == the round trips' own totals, open ones included.
    with engine.connect() as conn:
        days = pnl_groups(conn, "day", CHICAGO)
    booked = {(d["day"], d["currency"]): {k: d[k] for k in ("pnl", "commission")} for d in days}
    assert booked == reference_pnl_by_day(fills)
    for currency in {t["currency"] for t in stored}:
        mine = [t for t in stored if t["currency"] == currency]
        ours = [d for d in days if d["currency"] == currency]
        for k in ("commission", "net_pnl") if currency else ("commission",):
            assert sum(d[k] for d in ours) == sum(t[k] for t in mine)
    with engine.connect() as conn:
        parts = conn.execute(
            text("SELECT f.execution_id, f.quantity, f.commission, f.role FROM round_trip_fills f")
        ).all()
    per_fill_q: dict[str, int] = defaultdict(int)
    per_fill_c: dict[str, Decimal] = defaultdict(Decimal)
    for eid, qty, comm, _role in parts:
        per_fill_q[eid] += qty
        per_fill_c[eid] += Decimal(str(comm))
    assert dict(per_fill_q) == {f.execution_id: f.quantity for f in fills}
    assert dict(per_fill_c) == {f.execution_id: f.commission for f in fills}
    exits = sum(q for _, q, _, role in parts if role == "exit")
    opened = sum(t["quantity"] for t in stored)
    still_open = sum(t["open_quantity"] for t in stored)
    assert opened == exits + still_open  # contracts opened = closed + open
    net: dict[tuple[str, str], int] = defaultdict(int)
    cash: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for f in fills:
        sign = 1 if f.action.startswith("Buy") else -1
        net[(f.account, f.instrument)] += sign * f.quantity
        cash[(f.account, f.instrument)] -= sign * f.quantity * f.price
    for key, position in net.items():
        mine = [t for t in stored if (t["account"], t["instrument"]) == key]
        assert sum(t["open_quantity"] for t in mine) == abs(position)
        if position == 0:  # flat: realized P&L is the fills' cash flow times the point value
            assert sum(t["pnl"] for t in mine) == cash[key] * POINT[key[1].split(" ")[0]]


@settings(
    max_examples=200 if RELEASE else 30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=case_st)
def test_incremental_round_trips_equal_a_from_scratch_fifo(
    engine: Engine, settings: Settings, tmp_path_factory: Any, case: dict[str, Any]
) -> None:
    """Shuffled files, late older fills, appends, deletions + rebuild: the reference's answer."""
    saved = reader.BLOCK_BYTES
    reader.BLOCK_BYTES = 64  # a line or two a read: ``batch`` rows make a transaction
    try:
        _run_case(engine, settings, tmp_path_factory, case)
    finally:
        reader.BLOCK_BYTES = saved


def _run_case(
    engine: Engine, settings: Settings, tmp_path_factory: Any, case: dict[str, Any]
) -> None:
    with engine.begin() as conn:
        for table in TABLES:
            conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed names
    folder: Path = tmp_path_factory.mktemp("fills")
    rng = case["assign"]
    lines = [_line(n, f) for n, f in enumerate(case["fills"])]
    cases = {f"x{n:04d}": f for n, f in enumerate(case["fills"])}
    rng.shuffle(lines)
    files: list[list[str]] = [[] for _ in range(case["files"])]
    for line in lines:
        files[rng.randrange(len(files))].append(line)
    # en-US times of early March (every day <= 12): only the setting settles their order
    reading = dataclasses.replace(
        settings, batch_size=case["batch"], date_order="mdy", commissions=COMMISSIONS
    )
    service = ImportService(engine, reading)
    for i, rows in enumerate(files):
        path = folder / f"f{i}.csv"
        path.write_text(HEADER + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
        service.import_file(path)
        check(engine, cases)
    # Later fills, in time order: every transaction continues in memory (a second split
    # across two transactions is recomputed), and equals a rebuild exactly.
    start = len(case["fills"]) + 50
    later = sorted(case["later"], key=lambda f: f["second"])
    later = [{**f, "hours": 0} for f in later]  # after every fill above, in time order
    rows = [_line(start + n, f, offset=3 * 86400) for n, f in enumerate(later)]
    cases |= {f"x{start + n:04d}": f for n, f in enumerate(later)}
    path = folder / "later.csv"
    path.write_text(HEADER + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    with refreshes() as seen:
        service.import_file(path)
    assert seen[0].continued >= 1
    check(engine, cases)
    assert_equal_to_a_rebuild(engine)
    ids = [f"x{n:04d}" for n in case["delete"] if n < len(case["fills"])]
    if ids:
        with writing(engine) as conn:
            for eid in ids:
                conn.execute(text("DELETE FROM trades WHERE execution_id = :e"), {"e": eid})
            rebuild_round_trips(conn)
        check(engine)
    if case["more"]:
        start = len(case["fills"]) + 100
        more = [_line(start + n, f) for n, f in enumerate(case["more"])]
        cases |= {f"x{start + n:04d}": f for n, f in enumerate(case["more"])}
        path = folder / "more.csv"
        path.write_text(HEADER + "\n" + "".join(r + "\n" for r in more), encoding="utf-8")
        service.import_file(path)
        check(engine, cases)
