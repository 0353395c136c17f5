"""PostgreSQL batches: COPY into a temporary table, then set-based statements.

Per batch: one COPY of the rows into ``csv_import_batch`` (a temporary table, emptied at
each commit), one statement that inserts the ledger rows in execution-ID order with
``ON CONFLICT DO NOTHING RETURNING`` and, in a data-modifying CTE, the trades of exactly
those IDs, then one lookup of the stored trades that differ from the batch. The previous
path (SQLAlchemy insertmanyvalues, a second lookup of every already-known ID, then the
trades) cost about 57 us of client CPU per row; this one mostly formats COPY text.

Concurrent importers stay deadlock-free: every writer inserts ledger rows in ascending ID
order, and trades only for IDs it has just inserted into the ledger. The lookup is a
statement of its own, so (READ COMMITTED) it sees rows a concurrent importer committed
while this insert waited on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from csv_import_daemon.config.contracts import contract_at
from csv_import_daemon.parsing.row_parser import Execution

# Literal statements only (no SQL is assembled at run time; tests/test_boundaries.py).
# The batch table has the trades column types, so COPY rounds and checks as the insert would.
_PREPARE = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS csv_import_batch ("
    "execution_id varchar(255) NOT NULL, account varchar(50) NOT NULL, "
    "instrument varchar(50) NOT NULL, action varchar(20) NOT NULL, entry_exit varchar(10), "
    "quantity integer NOT NULL, price numeric(20, 8) NOT NULL, "
    "executed_at timestamp without time zone NOT NULL, commission numeric(20, 8), "
    "order_id varchar(64), order_name varchar(255), connection varchar(100), "
    "position_after varchar(20), source_line integer NOT NULL, extra text, "
    "contract varchar(60) NOT NULL, commission_currency varchar(3), "
    "commission_source varchar(20)"
    ") ON COMMIT DELETE ROWS; TRUNCATE csv_import_batch"
)
_COPY = "COPY csv_import_batch FROM STDIN"
_INSERT = (
    "WITH ins AS ("
    " INSERT INTO imported_executions"
    " (execution_id, csv_filename, import_timestamp, account, instrument)"
    " SELECT execution_id, %(csv_filename)s, %(now)s, account, instrument"
    " FROM csv_import_batch ORDER BY execution_id"
    " ON CONFLICT (execution_id) DO NOTHING RETURNING execution_id"
    "), tr AS ("
    " INSERT INTO trades (execution_id, account, instrument, action, entry_exit, quantity,"
    " price, executed_at, commission, order_id, order_name, connection, position_after,"
    " source_file, source_line, imported_at, extra, contract, commission_currency,"
    " commission_source)"
    " SELECT b.execution_id, b.account, b.instrument, b.action, b.entry_exit, b.quantity,"
    " b.price, b.executed_at, b.commission, b.order_id, b.order_name, b.connection,"
    " b.position_after, %(source_file)s, b.source_line, %(now)s, b.extra, b.contract,"
    " b.commission_currency, b.commission_source"
    " FROM csv_import_batch b JOIN ins USING (execution_id) ORDER BY b.execution_id"
    " ON CONFLICT (execution_id) DO NOTHING RETURNING execution_id"
    ") SELECT execution_id FROM tr"
)
# Only stored trades that may differ come back; rows inserted just now equal themselves.
_DIFFERING = (
    "SELECT t.execution_id, t.account, t.instrument, t.action, t.quantity, t.price,"
    " t.executed_at"
    " FROM csv_import_batch b JOIN trades t USING (execution_id)"
    " WHERE t.account IS DISTINCT FROM b.account"
    " OR t.instrument IS DISTINCT FROM b.instrument"
    " OR t.action IS DISTINCT FROM b.action"
    " OR t.quantity IS DISTINCT FROM b.quantity"
    " OR t.price IS DISTINCT FROM b.price"
    " OR t.executed_at IS DISTINCT FROM b.executed_at"
)
_FIELDS = ("account", "instrument", "action", "quantity", "price", "executed_at")
_NULL = "\\N"
_TABS = 17  # 18 columns


def _escape(value: str) -> str:
    """COPY text format: backslash, tab and line breaks escaped."""
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def _copy_line(ex: Execution) -> str:
    """One COPY text line; field by field only when a value needs escaping."""
    line = (
        f"{ex.execution_id}\t{ex.account}\t{ex.instrument}\t{ex.action}\t"
        f"{ex.entry_exit or _NULL}\t{ex.quantity}\t{ex.price}\t{ex.executed_at}\t"
        f"{_NULL if ex.commission is None else ex.commission}\t{ex.order_id or _NULL}\t"
        f"{ex.order_name or _NULL}\t{ex.connection or _NULL}\t{ex.position_after or _NULL}\t"
        f"{ex.line}\t{ex.extra or _NULL}\t{contract_at(ex.instrument, ex.executed_at)}\t"
        f"{ex.commission_currency or _NULL}\t{ex.commission_source or _NULL}\n"
    )
    nulls = (
        (not ex.entry_exit)
        + (ex.commission is None)
        + (not ex.order_id)
        + (not ex.order_name)
        + (not ex.connection)
        + (not ex.position_after)
        + (not ex.extra)
        + (not ex.commission_currency)
        + (not ex.commission_source)
    )
    # Every backslash is one of our NULL markers, no value holds a tab or a line break.
    if (
        line.count("\\") == nulls
        and line.count("\t") == _TABS
        and line.count("\n") == 1
        and "\r" not in line
    ):
        return line
    return _slow_copy_line(ex)


def _slow_copy_line(ex: Execution) -> str:
    """Field by field, escaping what needs it (quoted CSV values may hold anything)."""
    values: list[Any] = [
        ex.execution_id,
        ex.account,
        ex.instrument,
        ex.action,
        ex.entry_exit,
        ex.quantity,
        ex.price,
        ex.executed_at,
        ex.commission,
        ex.order_id,
        ex.order_name,
        ex.connection,
        ex.position_after,
        ex.line,
        ex.extra,
        contract_at(ex.instrument, ex.executed_at),
        ex.commission_currency,
        ex.commission_source,
    ]
    return "\t".join(_NULL if v is None or v == "" else _escape(str(v)) for v in values) + "\n"


def insert(
    conn: Connection,
    batch: Sequence[Execution],
    csv_filename: str,
    source_file: str,
    now: datetime,
) -> tuple[set[str], dict[str, dict[str, Any] | None]]:
    """Insert the batch; the IDs inserted, and the stored fields of trades that differ."""
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cur: Any = raw.cursor()  # psycopg's own cursor: COPY is not in the DB-API
    with cur:
        cur.execute(_PREPARE)  # no parameters: sent as one simple query
        with cur.copy(_COPY) as copy:
            for i in range(0, len(batch), 2000):
                copy.write("".join(map(_copy_line, batch[i : i + 2000])))
        params = {"csv_filename": csv_filename, "source_file": source_file, "now": now}
        cur.execute(_INSERT, params)
        inserted = {row[0] for row in cur.fetchall()}
        cur.execute(_DIFFERING)
        stored: dict[str, dict[str, Any] | None] = {
            row[0]: dict(zip(_FIELDS, row[1:], strict=True)) for row in cur.fetchall()
        }
    return inserted, stored
