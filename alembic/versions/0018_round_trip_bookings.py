"""r18: round_trip_bookings, what each round trip realized per UTC hour of its fills.

pnl and the journal page add these rows up in SQL (each exit's points and each part's
commission, exact integers of 1e-8, per round trip, UTC hour and commission currency)
instead of replaying every part's FIFO joined to its trade. Existing round trips get their
rows here: their parts replayed in order with their trades' prices and times, the same
arithmetic as the round trips were computed with, a few thousand round trips at a time
(memory stays flat on a journal of years). A part whose trade is gone (deleted by hand)
gives no row: ``round-trips --rebuild`` mends those round trips, as it always did.

Revision ID: 0018_round_trip_bookings
Revises: 0017_commission_source
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections import deque
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0018_round_trip_bookings"
down_revision = "0017_commission_source"
branch_labels = None
depends_on = None

_CHUNK = 5_000  # round trips replayed per query
_EPOCH = 719163  # date(1970, 1, 1).toordinal()
_INT64 = 2**63
_ZERO = Decimal(0)
_COLUMNS = (
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


def upgrade() -> None:
    op.create_table(
        "round_trip_bookings",
        sa.Column("account", sa.String(50), nullable=False),
        sa.Column("contract", sa.String(60), nullable=False),
        sa.Column("instrument", sa.String(50), nullable=False),
        sa.Column("commission_currency", sa.String(3), nullable=False),
        sa.Column("utc_hour", sa.Integer(), nullable=False),
        sa.Column("round_trip_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=True),
        sa.Column("commission", sa.BigInteger(), nullable=True),
        sa.Column("charged", sa.Integer(), nullable=False),
        sa.Column("places", sa.Integer(), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_trip_id"],
            ["round_trips.id"],
            name="fk_round_trip_bookings_round_trip_id_round_trips",
        ),
        sa.PrimaryKeyConstraint(
            "account",
            "contract",
            "instrument",
            "commission_currency",
            "utc_hour",
            "round_trip_id",
            "seq",
            name="pk_round_trip_bookings",
        ),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_round_trip_bookings_round_trip_id", "round_trip_bookings", ["round_trip_id"]
    )
    _backfill(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_round_trip_bookings_round_trip_id", table_name="round_trip_bookings")
    op.drop_table("round_trip_bookings")


def _backfill(conn: sa.Connection) -> None:
    table = sa.table("round_trip_bookings", *(sa.column(c) for c in _COLUMNS))
    after = 0
    while True:
        ids = [
            int(r[0])
            for r in conn.execute(
                sa.text(
                    "SELECT id FROM round_trips WHERE id > :after AND contract IS NOT NULL "
                    "ORDER BY id LIMIT :n"
                ),
                {"after": after, "n": _CHUNK},
            )
        ]
        if not ids:
            return
        rows = conn.execute(
            sa.text(
                "SELECT r.id, r.account, r.contract, r.instrument, r.direction, f.seq, f.role, "
                "f.quantity, f.commission, t.price, t.executed_at, t.commission_currency "
                "FROM round_trip_fills f JOIN round_trips r ON r.id = f.round_trip_id "
                "LEFT JOIN trades t ON t.execution_id = f.execution_id "
                "WHERE f.round_trip_id >= :lo AND f.round_trip_id <= :hi "
                "AND r.contract IS NOT NULL ORDER BY f.round_trip_id, f.seq"
            ),
            {"lo": ids[0], "hi": ids[-1]},
        )
        out = _bookings(rows)
        if out:
            conn.execute(sa.insert(table), out)
        after = ids[-1]


def _bookings(rows: Any) -> list[dict[str, Any]]:
    """The bookings of a chunk of round trips' parts, given in (round trip, seq) order."""
    out: list[dict[str, Any]] = []
    runs: dict[tuple[int, str], list[Any]] = {}
    lots: deque[list[Any]] = deque()
    head: tuple[Any, ...] | None = None
    broken = False
    for (
        trip_id,
        account,
        contract,
        instrument,
        direction,
        seq,
        role,
        qty,
        paid,
        cost,
        at,
        cur,
    ) in rows:
        if head is None or head[0] != trip_id:
            if head is not None and not broken:
                out += _rows(head, runs)
            head = (trip_id, account, contract, instrument, direction)
            runs, broken = {}, False
            lots.clear()
        if cost is None:  # its trade is gone
            broken = True
            continue
        price = Decimal(str(cost))
        quantity = int(qty)
        gain = _ZERO
        if role == "entry":
            lots.append([quantity, price])
        else:
            gain, left = _match(lots, quantity, price)
            broken = broken or left > 0  # trades edited since: rebuild mends it
        when = datetime.fromisoformat(at) if isinstance(at, str) else at
        hour = (when.toordinal() - _EPOCH) * 24 + when.hour
        key = (hour, cur or "")
        run = runs.get(key)
        if run is None:
            run = runs[key] = [int(seq), _ZERO, _ZERO, 0, 0, 2]
        run[1] += gain
        if gain:  # the most decimal places of a part's points (trailing zeros aside), >= 2
            exponent = gain.normalize().as_tuple().exponent
            if isinstance(exponent, int) and -exponent > run[5]:
                run[5] = -exponent
        commission = _ZERO if paid is None else Decimal(str(paid))
        if commission:
            run[2] += commission
            run[3] = 1
        run[4] += 1
    if head is not None and not broken:
        out += _rows(head, runs)
    return out


def _match(lots: deque[list[Any]], quantity: int, price: Decimal) -> tuple[Decimal, int]:
    """Close ``quantity`` against the oldest lots: the points gained (unsigned), and what
    no lot was left for."""
    gain = _ZERO
    left = quantity
    while left and lots:
        lot = lots[0]
        if lot[0] > left:
            lot[0] -= left
            gain += (price - lot[1]) * left
            return gain, 0
        gain += (price - lot[1]) * lot[0]
        left -= lot[0]
        lots.popleft()
    return gain, left


def _rows(head: tuple[Any, ...], runs: dict[tuple[int, str], list[Any]]) -> list[dict[str, Any]]:
    trip_id, account, contract, instrument, direction = head
    out = []
    for (hour, paid_in), (seq, gained, commission, charged, parts, places) in runs.items():
        points = _units(gained if direction == "long" else _ZERO - gained)
        paid = _units(commission)
        exact = points is not None and paid is not None  # else pnl replays this round trip
        out.append(
            {
                "account": account,
                "contract": contract,
                "instrument": instrument,
                "commission_currency": paid_in,
                "utc_hour": hour,
                "round_trip_id": trip_id,
                "seq": seq,
                "points": points,
                "commission": paid,
                "charged": charged,
                "places": places if exact else 99,
                "parts": parts,
            }
        )
    return out


def _units(value: Decimal) -> int | None:
    scaled = value.scaleb(8)
    units = int(scaled)
    return units if units == scaled and -_INT64 < units < _INT64 else None
