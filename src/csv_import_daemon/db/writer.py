"""The hot path: insert a batch into the ledger and trades, learning which IDs were new.

PostgreSQL: COPY into a temporary table and set-based statements (``pg_batch``), exact with
several writers. SQLite: the batch's transaction already holds the database's only write
lock (BEGIN IMMEDIATE), so the IDs already present are read first (one JSON parameter), the
trades go in through the driver's executemany with the statement compiled once (per-row
parameter processing in SQLAlchemy cost more than the inserts themselves), and the ledger
rows are copied from those trades by one INSERT ... SELECT.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite

from csv_import_daemon.config.contracts import contract_at
from csv_import_daemon.db import pg_batch
from csv_import_daemon.db.tables import LEDGER, TRADES, sqlite_time
from csv_import_daemon.parsing.row_parser import Execution

LEDGER_COLUMNS = ("execution_id", "csv_filename", "import_timestamp", "account", "instrument")
# Columns taken from an Execution as they are, then the ones converted to SQLite text.
_PASSED_FIELDS = (
    "execution_id",
    "account",
    "instrument",
    "action",
    "entry_exit",
    "quantity",
    "order_id",
    "order_name",
    "connection",
    "position_after",
    "line",
)
_PASSED = attrgetter(*_PASSED_FIELDS)  # one C call builds the tuple
# The parameters in the order the writer passes them (SQLAlchemy would bind them in table
# order).
_TRADES_SQL = (
    "INSERT INTO trades (execution_id, account, instrument, action, entry_exit, quantity,"
    " order_id, order_name, connection, position_after, source_line, price, executed_at,"
    " commission, source_file, imported_at, extra, contract, commission_currency,"
    " commission_source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (execution_id) DO NOTHING"
)
_MAX_TRADE_ID = "SELECT max(id) FROM trades"
_LEDGER_FROM_TRADES = (
    "INSERT INTO imported_executions"
    " (execution_id, csv_filename, import_timestamp, account, instrument)"
    " SELECT execution_id, ?, ?, account, instrument FROM trades WHERE id > ? ORDER BY id"
)
_TRADE_IDS_AFTER = "SELECT execution_id FROM trades WHERE id > ?"
_STORED_TRADES = (
    "SELECT execution_id, account, instrument, action, quantity, price, executed_at"
    " FROM trades WHERE execution_id IN (SELECT value FROM json_each(?))"
)
CONFLICT_FIELDS = ("account", "instrument", "action", "quantity", "price", "executed_at")

# A stored trade's conflict-relevant fields; None when only the ledger remembers the ID.
Stored = dict[str, Any] | None


def _decimal_text(value: Decimal) -> str:
    # str() is several times faster than format(); it only differs for exponent notation.
    text = str(value)
    return format(value, "f") if "E" in text else text


def _money_text(value: Decimal | None) -> str | None:
    return None if value is None else _decimal_text(value)


class BatchWriter:
    """Dialect-aware batch inserts and stored-row lookups for one engine."""

    def __init__(self, engine: Engine) -> None:
        self.dialect = engine.dialect
        self.sqlite = engine.dialect.name == "sqlite"
        self._insert = sqlite.insert if self.sqlite else postgresql.insert
        if self.sqlite:
            ids = func.json_each(bindparam("ids_json")).table_valued("value")
            lookup = (
                select(LEDGER.c.execution_id, *(TRADES.c[k] for k in CONFLICT_FIELDS))
                .select_from(
                    LEDGER.outerjoin(TRADES, TRADES.c.execution_id == LEDGER.c.execution_id)
                )
                .where(LEDGER.c.execution_id.in_(select(ids.c.value)))
            )
            # One JSON parameter carries the whole batch's IDs: no chunking, no per-ID
            # bind processing; rows come back raw and are typed here in C-speed calls.
            self._lookup_sql = str(lookup.compile(dialect=self.dialect))
            self._ledger_sql = self._compile(LEDGER, LEDGER_COLUMNS)
            proc = DateTime().dialect_impl(self.dialect).bind_processor(self.dialect)
            sample = datetime(2025, 1, 28, 15, 59, 52)
            if proc is None or proc(sample) != sqlite_time(sample):
                raise RuntimeError("SQLite DATETIME storage format changed; update sqlite_time")

    def _compile(self, table: Table, columns: Sequence[str]) -> str:
        stmt = self._insert(table).on_conflict_do_nothing(index_elements=["execution_id"])
        compiled = stmt.compile(dialect=self.dialect, column_keys=list(columns))
        if compiled.positiontup != list(columns):
            raise RuntimeError(f"unexpected parameter order for {table.name}")
        return str(compiled)

    def insert(
        self,
        conn: Connection,
        batch: Sequence[Execution],
        csv_filename: str,
        source_file: str,
        now: datetime,
    ) -> tuple[set[str], dict[str, Stored]]:
        """Insert the batch (unique IDs, sorted).

        Returns the IDs really inserted, and for the others whose stored trade may differ
        from the batch's row, that trade's conflict-relevant fields; an ID absent from it
        is a duplicate (or a deleted trade the ledger remembers). The transaction compares
        exactly (Decimal, datetime); the prefilter only spares the rows that are equal.
        """
        if not batch:
            return set(), {}
        if self.sqlite:
            return self._insert_sqlite(conn, batch, csv_filename, source_file, now)
        return pg_batch.insert(conn, batch, csv_filename, source_file, now)

    def _insert_sqlite(
        self,
        conn: Connection,
        batch: Sequence[Execution],
        csv_filename: str,
        source_file: str,
        now: datetime,
    ) -> tuple[set[str], dict[str, Stored]]:
        known, differing = self._lookup_sqlite(conn, batch)
        new = [ex for ex in batch if ex.execution_id not in known] if known else batch
        if not new:
            return set(), differing
        stamp = sqlite_time(now)
        before = conn.exec_driver_sql(_MAX_TRADE_ID).scalar()
        passed, decimal_text, money_text, to_time, contract = (
            _PASSED,
            _decimal_text,
            _money_text,
            sqlite_time,
            contract_at,
        )
        added = conn.exec_driver_sql(
            _TRADES_SQL,
            [
                passed(ex)  # noqa: RUF005 - a C-built tuple plus nine: faster than unpacking
                + (
                    decimal_text(ex.price),
                    to_time(ex.executed_at),
                    money_text(ex.commission),
                    source_file,
                    stamp,
                    ex.extra,
                    contract(ex.instrument, ex.executed_at),
                    ex.commission_currency,
                    ex.commission_source,
                )
                for ex in new
            ],
        ).rowcount
        if added == len(new):
            # Every trade went in, in ID order after the largest id before (the write lock
            # is held): the ledger rows are copied from them by SQLite itself, without a
            # parameter tuple per row.
            conn.exec_driver_sql(_LEDGER_FROM_TRADES, (csv_filename, stamp, before or 0))
        else:
            # A trade without its ledger row (pruned, or written by hand): the ledger row
            # row by row, as ever; only the trades really added count as inserted, the
            # others are compared with what is stored (a duplicate or a conflict).
            conn.exec_driver_sql(
                self._ledger_sql,
                [(ex.execution_id, csv_filename, stamp, ex.account, ex.instrument) for ex in new],
            )
            added_ids = set(conn.exec_driver_sql(_TRADE_IDS_AFTER, (before or 0,)).scalars().all())
            kept = [ex for ex in new if ex.execution_id not in added_ids]
            differing.update(self._stored_sqlite(conn, kept))
            return added_ids, differing
        return {ex.execution_id for ex in new}, differing

    def _stored_sqlite(self, conn: Connection, batch: Sequence[Execution]) -> dict[str, Stored]:
        """The conflict fields of the stored trades of ``batch``, typed for comparison."""
        ids = json.dumps([ex.execution_id for ex in batch])
        return {
            row[0]: {
                "account": row[1],
                "instrument": row[2],
                "action": row[3],
                "quantity": row[4],
                "price": Decimal(row[5]),
                "executed_at": datetime.fromisoformat(row[6]),
            }
            for row in conn.exec_driver_sql(_STORED_TRADES, (ids,))
        }

    def _lookup_sqlite(
        self, conn: Connection, batch: Sequence[Execution]
    ) -> tuple[set[str], dict[str, Stored]]:
        """The batch's IDs the ledger knows, and the stored fields of trades that differ.

        Compared as stored text first (the exact comparison, on Decimal and datetime,
        follows in the transaction for those that differ as text): an all-duplicate batch
        then costs no Decimal or datetime per row.
        """
        ids = json.dumps([ex.execution_id for ex in batch])
        rows = conn.exec_driver_sql(self._lookup_sql, (ids,)).fetchall()
        if not rows:
            return set(), {}
        by_id = {ex.execution_id: ex for ex in batch}
        known: set[str] = set()
        differing: dict[str, Stored] = {}
        decimal_text, to_time = _decimal_text, sqlite_time
        for row in rows:
            key = row[0]
            known.add(key)
            if row[1] is None:
                continue  # the trade was deleted; the ledger remembers it, nothing to compare
            ex = by_id[key]
            if (
                row[1] == ex.account
                and row[2] == ex.instrument
                and row[3] == ex.action
                and row[4] == ex.quantity
                and row[5] == decimal_text(ex.price)
                and row[6] == to_time(ex.executed_at)
            ):
                continue
            differing[key] = {
                "account": row[1],
                "instrument": row[2],
                "action": row[3],
                "quantity": row[4],
                "price": Decimal(row[5]),
                "executed_at": datetime.fromisoformat(row[6]),
            }
        return known, differing
