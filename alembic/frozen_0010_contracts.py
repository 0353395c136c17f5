"""Revision 0010's data step, frozen: each trade's contract, and round trips per contract.

The contract rule as of that revision: ``MNQ 06-26``, ``MNQ JUN26``, ``MNQM26`` and
``MNQM6`` are the contract ``MNQ 06-26`` (root, month, two-digit year); a one-digit year is
the nearest expiry on or after the fill's month; a name in no known style is its own
contract, stripped. The round trips are then rebuilt per (account, contract) with revision
0005's frozen FIFO (loaded from its own file), which reads one key's fills at a time; a
round trip's ``instrument`` is its opening fill's text.

It imports nothing from the application on purpose (see frozen_0005_round_trips.py).
"""

from __future__ import annotations

import importlib.util
import re
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

MONTH_CODES = "FGHJKMNQUVXZ"
MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_NUMBER = re.compile(r"^(\S+)\s+(\d{1,2})-(\d{2})$")
_NAME = re.compile(r"^(\S+)\s+([A-Z]{3})\s*(\d{2})$")
_CODE = re.compile(r"^([A-Z0-9]+?)([FGHJKMNQUVXZ])(\d{1,2})$")
_ONE_DIGIT = re.compile(r"^[A-Z0-9]+?[FGHJKMNQUVXZ]\d$")
FIVE = Path(__file__).resolve().parent / "frozen_0005_round_trips.py"


def contract(instrument: str, year: int, month: int) -> str:
    """The contract of a fill of ``instrument`` in ``year``/``month``."""
    text = instrument.strip().upper()
    found: tuple[str, int, int] | None = None
    if m := _NUMBER.match(text):
        if 1 <= int(m.group(2)) <= 12:
            found = (m.group(1), 2000 + int(m.group(3)), int(m.group(2)))
    elif m := _NAME.match(text):
        if m.group(2) in MONTH_NAMES:
            found = (m.group(1), 2000 + int(m.group(3)), MONTH_NAMES.index(m.group(2)) + 1)
    elif m := _CODE.match(text):
        code_month = MONTH_CODES.index(m.group(2)) + 1
        digits = m.group(3)
        if len(digits) == 2:
            found = (m.group(1), 2000 + int(digits), code_month)
        else:
            code_year = year - year % 10 + int(digits)
            if (code_year, code_month) < (year, month):
                code_year += 10
            found = (m.group(1), code_year, code_month)
    if found is None:
        return instrument.strip()
    root, found_year, found_month = found
    return f"{root} {found_month:02d}-{found_year % 100:02d}"


def fill_contracts(conn: Any) -> None:
    """Set ``trades.contract`` of every row from its instrument (and month, for one digit)."""
    run = _runner(conn)
    names = [r[0] for r in run("SELECT DISTINCT instrument FROM trades").fetchall()]
    for name in sorted(names):
        if not _ONE_DIGIT.match(name.strip().upper()):
            run(
                "UPDATE trades SET contract = ? WHERE instrument = ?",
                (contract(name, 2000, 1), name),
            )
            continue
        rows = run("SELECT id, executed_at FROM trades WHERE instrument = ?", (name,)).fetchall()
        updates = []
        for row_id, executed_at in rows:
            when = (
                datetime.fromisoformat(executed_at) if isinstance(executed_at, str) else executed_at
            )
            updates.append((contract(name, when.year, when.month), row_id))
        for i in range(0, len(updates), 5_000):
            _many(conn, "UPDATE trades SET contract = ? WHERE id = ?", updates[i : i + 5_000])


def build_round_trips(conn: Any) -> int:
    """Fill the (empty) round-trip tables from ``trades``, per (account, contract)."""
    five = _five()
    # Revision 0005's reader, with the key's second column read as the contract.
    five._SELECT = five._SELECT.replace("AND instrument = ?", "AND contract = ?")
    out = five.Writer(conn)
    keys = sorted(
        tuple(r)
        for r in out.run("SELECT DISTINCT account, contract FROM trades WHERE contract IS NOT NULL")
    )
    written = 0
    for key in keys:
        fifo = five.Fifo()
        for second in five._seconds(out, key):
            fifo.second(second)
            if len(fifo.done) >= five.FLUSH:
                written += len(fifo.done)
                out.write(key, fifo.done)
                fifo.done = []
        trips = fifo.done + ([fifo.trip] if fifo.trip is not None else [])
        out.write(key, trips)
        written += len(trips)
    # Revision 0005's writer stored the key in ``instrument``: it is the contract; the
    # instrument shown is the opening fill's text, as written.
    out.run("UPDATE round_trips SET contract = instrument")
    out.run(
        "UPDATE round_trips SET instrument = (SELECT t.instrument FROM round_trip_fills f "
        "JOIN trades t ON t.execution_id = f.execution_id "
        "WHERE f.round_trip_id = round_trips.id AND f.seq = 0)"
    )
    return written


def _five() -> ModuleType:
    """A private copy of revision 0005's frozen module (its own globals)."""
    spec = importlib.util.spec_from_file_location("csv_import_migrations_frozen_0005_in_0010", FIVE)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"revision 0010: cannot load {FIVE.name}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _runner(conn: Any) -> Any:
    sqlite = conn.dialect.name == "sqlite"

    def run(sql: str, params: Any = ()) -> Any:
        return conn.exec_driver_sql(sql if sqlite else sql.replace("?", "%s"), params)

    return run


def _many(conn: Any, sql: str, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        sqlite = conn.dialect.name == "sqlite"
        conn.exec_driver_sql(sql if sqlite else sql.replace("?", "%s"), rows)
