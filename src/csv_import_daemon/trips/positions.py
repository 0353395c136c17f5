"""NinjaTrader's own Position column against the position the round trips computed.

A file's ``Position`` cell (``9 L``, ``3 S``, ``-`` for flat) is the account's position after
the fill, as NinjaTrader saw it. Some connections write ``-`` even on entries, so neither
side is trusted, and a ``-`` counts as flat only where the contract's latest fills show a
real position somewhere (a connection that writes ``-`` on every fill says nothing by it).
Where the last fill of an (account, contract) carries a position and it disagrees with the
round trips' open position, the disagreement is reported (``status``, ``verify``,
``round-trips``, ``pnl``, and a warning when an import refreshes that contract's round
trips) and nothing is changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, text

from csv_import_daemon.trips.sql import TripSql

_POSITION = re.compile(r"^\s*(\d+)\s*([LS])\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class PositionMismatch:
    """An (account, contract) whose last Position cell disagrees with the round trips."""

    account: str
    instrument: str  # as the last fill wrote it
    file_says: int  # + long, - short, 0 flat
    computed: int

    def describe(self) -> str:
        return (
            f"{self.account} {self.instrument}: the file's Position column says "
            f"{_words(self.file_says)} after its last fill, the round trips say "
            f"{_words(self.computed)}"
        )


def _words(position: int) -> str:
    if position == 0:
        return "flat"
    return f"{abs(position)} {'long' if position > 0 else 'short'}"


def read_position(cell: str | None) -> int | None:
    """``9 L`` -> 9, ``3 S`` -> -3, ``-`` -> 0; None when there is none or it cannot be read."""
    if cell is None:
        return None
    if cell.strip() == "-":
        return 0
    match = _POSITION.match(cell)
    if match is None:
        return None
    size = int(match.group(1))
    return size if match.group(2).upper() == "L" else -size


def position_mismatches(
    conn: Connection, keys: Iterable[tuple[str, str]] | None = None
) -> list[PositionMismatch]:
    """Every (account, contract) whose last fill's Position disagrees with its round trips
    (of ``keys`` only, if given: what an import just refreshed).

    Of the fills of the last second, any one whose Position matches is enough (their order
    within a second is not known). Two statements for all the keys, not a few per key: an
    import refreshes dozens of keys per batch, and on PostgreSQL each statement waits on
    the server.
    """
    if keys is None:
        keys = [
            (str(a), str(c))
            for a, c in conn.execute(text("SELECT DISTINCT account, contract FROM round_trips"))
        ]
    keys = sorted(keys, key=lambda k: (str(k[0]), str(k[1])))
    if not keys:
        return []
    sql = TripSql(conn)
    chosen, params = sql.key_rows(keys, ("text", "text"))
    last_fills: dict[tuple[str, str], list[tuple[str | None, str]]] = {}
    for account, contract, position, instrument in sql.run(
        f"WITH k AS ({chosen}), "  # noqa: S608 - a fixed statement, values bound
        "last AS (SELECT k.a, k.c, (SELECT max(executed_at) FROM trades "
        "WHERE account = k.a AND contract = k.c) AS t FROM k) "
        "SELECT last.a, last.c, trades.position_after, trades.instrument FROM last "
        "JOIN trades ON trades.account = last.a AND trades.contract = last.c "
        "AND trades.executed_at = last.t ORDER BY last.a, last.c, trades.execution_id",
        params,
    ):
        last_fills.setdefault((account, contract), []).append((position, instrument))
    open_trips: dict[tuple[str, str], tuple[str, int]] = {}
    for account, contract, direction, quantity in sql.run(
        f"WITH k AS ({chosen}) "  # noqa: S608 - a fixed statement, values bound
        "SELECT r.account, r.contract, r.direction, r.open_quantity FROM round_trips r "
        "JOIN k ON r.account = k.a AND r.contract = k.c WHERE r.closed_at IS NULL",
        params,
    ):
        open_trips.setdefault((account, contract), (direction, quantity))  # the first, as one
    out = []
    for account, contract in keys:
        rows = last_fills.get((account, contract))
        if rows is None:
            continue
        said = [p for p in (read_position(r[0]) for r in rows) if p is not None]
        if not said or (
            not any(said) and not _writes_positions(conn, {"a": account, "i": contract})
        ):
            continue
        trip = open_trips.get((account, contract))
        computed = 0 if trip is None else int(trip[1]) * (1 if trip[0] == "long" else -1)
        if computed not in said:
            out.append(PositionMismatch(account, str(rows[-1][1]), said[-1], computed))
    return out


def _writes_positions(conn: Connection, params: dict[str, str]) -> bool:
    """Does this (account, contract)'s connection write real positions (``2 L``)? Among its
    latest fills, any one is enough; a connection that writes ``-`` on every fill says
    nothing by ``-``, so its flat is no evidence."""
    cells = conn.execute(
        text(
            "SELECT position_after FROM trades WHERE account = :a AND contract = :i "
            "ORDER BY executed_at DESC LIMIT 200"
        ),
        params,
    ).scalars()
    return any(read_position(c) not in (None, 0) for c in cells)
