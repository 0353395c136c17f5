"""The hot path: insert a batch into the ledger and trades, learning which IDs were new.

PostgreSQL: ``INSERT ... ON CONFLICT DO NOTHING RETURNING execution_id`` (insertmanyvalues),
which stays exact with several writers. SQLite: the batch's transaction already holds the
database's only write lock (BEGIN IMMEDIATE), so the IDs already present are read first and
the same ON CONFLICT DO NOTHING insert runs through the driver's executemany with the
statement compiled once; per-row parameter processing in SQLAlchemy cost more than the
inserts themselves (profiled: 60 % of a cold import).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite

from csv_import_daemon.db.tables import LEDGER, TRADES
from csv_import_daemon.parser import Execution

LEDGER_COLUMNS = ("execution_id", "csv_filename", "import_timestamp", "account", "instrument")
TRADE_COLUMNS = (
    "execution_id",
    "account",
    "instrument",
    "action",
    "entry_exit",
    "quantity",
    "price",
    "executed_at",
    "commission",
    "order_id",
    "order_name",
    "connection",
    "position_after",
    "source_file",
    "source_line",
    "imported_at",
    "extra",
)
CONFLICT_FIELDS = ("account", "instrument", "action", "quantity", "price", "executed_at")
_LOOKUP_CHUNK = 500

# A stored trade's conflict-relevant fields; None when only the ledger remembers the ID.
Stored = dict[str, Any] | None


def _decimal_text(value: Decimal) -> str:
    # str() is several times faster than format(); it only differs for exponent notation.
    text = str(value)
    return format(value, "f") if "E" in text else text


def _money_text(value: Decimal | None) -> str | None:
    return None if value is None else _decimal_text(value)


def _sqlite_time(value: datetime) -> str:
    """SQLAlchemy's SQLite DATETIME text ("YYYY-MM-DD HH:MM:SS.ffffff"), made in C."""
    text = value.isoformat(" ")
    return text + ".000000" if len(text) == 19 else text


class BatchWriter:
    """Dialect-aware batch inserts and stored-row lookups for one engine."""

    def __init__(self, engine: Engine) -> None:
        self.dialect = engine.dialect
        self.sqlite = engine.dialect.name == "sqlite"
        self._insert = sqlite.insert if self.sqlite else postgresql.insert
        cols = [TRADES.c.execution_id, *(TRADES.c[k] for k in CONFLICT_FIELDS)]
        self._stored = select(*cols).where(
            TRADES.c.execution_id.in_(bindparam("ids", expanding=True))
        )
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
            self._trades_sql = self._compile(TRADES, TRADE_COLUMNS)
            proc = DateTime().dialect_impl(self.dialect).bind_processor(self.dialect)
            sample = datetime(2025, 1, 28, 15, 59, 52)
            if proc is None or proc(sample) != _sqlite_time(sample):
                raise RuntimeError("SQLite DATETIME storage format changed; update _sqlite_time")

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

        Returns the IDs really inserted, and for every other ID its stored trade's
        conflict-relevant fields (None when the trade was deleted and only the ledger
        remembers it).
        """
        if not batch:
            return set(), {}
        if self.sqlite:
            return self._insert_sqlite(conn, batch, csv_filename, source_file, now)
        stmt = (
            self._insert(LEDGER)
            .on_conflict_do_nothing(index_elements=["execution_id"])
            .returning(LEDGER.c.execution_id)
        )
        inserted = set(
            conn.execute(
                stmt,
                [
                    {
                        "execution_id": ex.execution_id,
                        "csv_filename": csv_filename,
                        "import_timestamp": now,
                        "account": ex.account,
                        "instrument": ex.instrument,
                    }
                    for ex in batch
                ],
            ).scalars()
        )
        if inserted:
            conn.execute(
                self._insert(TRADES).on_conflict_do_nothing(index_elements=["execution_id"]),
                [
                    {
                        "execution_id": ex.execution_id,
                        "account": ex.account,
                        "instrument": ex.instrument,
                        "action": ex.action,
                        "entry_exit": ex.entry_exit,
                        "quantity": ex.quantity,
                        "price": ex.price,
                        "executed_at": ex.executed_at,
                        "commission": ex.commission,
                        "order_id": ex.order_id,
                        "order_name": ex.order_name,
                        "connection": ex.connection,
                        "position_after": ex.position_after,
                        "source_file": source_file,
                        "source_line": ex.line,
                        "imported_at": now,
                        "extra": ex.extra,
                    }
                    for ex in batch
                    if ex.execution_id in inserted
                ],
            )
        others = [ex.execution_id for ex in batch if ex.execution_id not in inserted]
        stored: dict[str, Stored] = dict.fromkeys(others)
        if others:
            stored.update(self._stored_pg(conn, others))
        return inserted, stored

    def _insert_sqlite(
        self,
        conn: Connection,
        batch: Sequence[Execution],
        csv_filename: str,
        source_file: str,
        now: datetime,
    ) -> tuple[set[str], dict[str, Stored]]:
        stored = self._lookup_sqlite(conn, [ex.execution_id for ex in batch])
        new = [ex for ex in batch if ex.execution_id not in stored]
        if not new:
            return set(), stored
        stamp = _sqlite_time(now)
        to_time = _sqlite_time
        conn.exec_driver_sql(
            self._ledger_sql,
            [(ex.execution_id, csv_filename, stamp, ex.account, ex.instrument) for ex in new],
        )
        conn.exec_driver_sql(
            self._trades_sql,
            [
                (
                    ex.execution_id,
                    ex.account,
                    ex.instrument,
                    ex.action,
                    ex.entry_exit,
                    ex.quantity,
                    _decimal_text(ex.price),
                    to_time(ex.executed_at),
                    _money_text(ex.commission),
                    ex.order_id,
                    ex.order_name,
                    ex.connection,
                    ex.position_after,
                    source_file,
                    ex.line,
                    stamp,
                    ex.extra,
                )
                for ex in new
            ],
        )
        return {ex.execution_id for ex in new}, stored

    def _lookup_sqlite(self, conn: Connection, ids: list[str]) -> dict[str, Stored]:
        out: dict[str, Stored] = {}
        fromiso = datetime.fromisoformat
        for row in conn.exec_driver_sql(self._lookup_sql, (json.dumps(ids),)).fetchall():
            if row[1] is None:
                out[row[0]] = None
            else:
                out[row[0]] = {
                    "account": row[1],
                    "instrument": row[2],
                    "action": row[3],
                    "quantity": row[4],
                    "price": Decimal(row[5]),
                    "executed_at": fromiso(row[6]),
                }
        return out

    def _stored_pg(self, conn: Connection, ids: Sequence[str]) -> dict[str, Stored]:
        out: dict[str, Stored] = {}
        for i in range(0, len(ids), _LOOKUP_CHUNK):
            for row in conn.execute(self._stored, {"ids": list(ids[i : i + _LOOKUP_CHUNK])}):
                out[row.execution_id] = {k: row._mapping[k] for k in CONFLICT_FIELDS}
        return out
