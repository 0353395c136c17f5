"""The floors of ``bench_speed.py``, each run by it as a child: ``speed_floors.py KIND CSV TARGET``.

  sqlite  stdlib ``csv`` + ``sqlite3.executemany`` of INSERT OR IGNORE into the seed's literal
          ledger DDL and a trades table, commit every 10,000 rows (TARGET: a SQLite file)
  pg      psycopg ``executemany`` of INSERT ... ON CONFLICT DO NOTHING, commit every 10,000
          (TARGET: a PostgreSQL URL)
  copy    ``COPY`` of the raw fields into the same tables on PostgreSQL, one transaction

A module of its own so that a floor's child imports only the standard library (and psycopg):
its time and memory are the floor's, not the cost of importing the project or SQLAlchemy.
"""

# ruff: noqa: S608 - every statement is built from this file's constants, never from input
from __future__ import annotations

import csv
import os
import sqlite3
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

COMMIT_EVERY = 10_000

# The seed's ledger, literally: a UNIQUE constraint plus the three named indexes.
LEDGER_DDL = {
    "sqlite": """
CREATE TABLE imported_executions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id VARCHAR(255) NOT NULL UNIQUE,
    csv_filename VARCHAR(255) NOT NULL,
    import_timestamp DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    account VARCHAR(50),
    instrument VARCHAR(50)
)""",
    "postgresql": """
CREATE TABLE imported_executions (
    id SERIAL PRIMARY KEY,
    execution_id VARCHAR(255) NOT NULL UNIQUE,
    csv_filename VARCHAR(255) NOT NULL,
    import_timestamp TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    account VARCHAR(50),
    instrument VARCHAR(50)
)""",
}
LEDGER_INDEXES = (
    "CREATE INDEX idx_imported_executions_exec_id ON imported_executions(execution_id)",
    "CREATE INDEX idx_imported_executions_csv_file ON imported_executions(csv_filename)",
    "CREATE INDEX idx_imported_executions_timestamp ON imported_executions(import_timestamp)",
)
TRADES_DDL = """
CREATE TABLE trades (
    id {pk},
    execution_id VARCHAR(255) NOT NULL UNIQUE,
    account VARCHAR(50) NOT NULL, instrument VARCHAR(50) NOT NULL,
    action VARCHAR(20) NOT NULL, entry_exit VARCHAR(10), quantity VARCHAR(20) NOT NULL,
    price VARCHAR(40) NOT NULL, executed_at VARCHAR(40) NOT NULL, commission VARCHAR(40),
    order_id VARCHAR(64), order_name VARCHAR(255), connection VARCHAR(100),
    position_after VARCHAR(20), source_file TEXT NOT NULL, source_line INTEGER NOT NULL,
    imported_at VARCHAR(40) NOT NULL
)"""
TRADES_PK = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgresql": "SERIAL PRIMARY KEY"}
LEDGER_COLS = "execution_id, csv_filename, import_timestamp, account, instrument"
TRADES_COLS = (
    "execution_id, account, instrument, action, entry_exit, quantity, price, executed_at, "
    "commission, order_id, order_name, connection, position_after, source_file, source_line, "
    "imported_at"
)


# CSV field index of each trades column before source_file.
_TRADE_FIELDS = (5, 12, 0, 1, 6, 2, 3, 4, 10, 8, 9, 13, 7)


def _rows(path: str) -> Any:
    """The CSV's data rows as the floor tuples: raw fields, nothing parsed."""
    name = os.path.basename(path)
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = csv.reader(f)
        next(rows)
        for number, r in enumerate(rows, start=2):
            if len(r) < 14:
                continue
            yield (
                (r[5], name, now, r[12], r[0]),
                (*(r[k] for k in _TRADE_FIELDS), path, number, now),
            )


def _batches(path: str) -> Iterator[tuple[list[Any], list[Any]]]:
    """The ledger and trades tuples in batches of ``COMMIT_EVERY`` rows (the last one
    shorter, never empty): each floor commits once per batch."""
    ledger: list[Any] = []
    trades: list[Any] = []
    for led, trade in _rows(path):
        ledger.append(led)
        trades.append(trade)
        if len(ledger) >= COMMIT_EVERY:
            yield ledger, trades
            ledger, trades = [], []
    if ledger:
        yield ledger, trades


def floor_sqlite(path: str, db: str) -> None:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    for ddl in (LEDGER_DDL["sqlite"], *LEDGER_INDEXES, TRADES_DDL.format(pk=TRADES_PK["sqlite"])):
        conn.execute(ddl)
    conn.commit()
    ledger_sql = f"INSERT OR IGNORE INTO imported_executions ({LEDGER_COLS}) VALUES (?,?,?,?,?)"
    trades_sql = f"INSERT OR IGNORE INTO trades ({TRADES_COLS}) VALUES ({','.join('?' * 16)})"
    for ledger, trades in _batches(path):
        conn.executemany(ledger_sql, ledger)
        conn.executemany(trades_sql, trades)
        conn.commit()
    conn.commit()
    conn.close()


def _pg_tables(url: str) -> Any:
    import psycopg  # noqa: PLC0415

    conn = psycopg.connect(libpq(url))
    for ddl in (
        LEDGER_DDL["postgresql"],
        *LEDGER_INDEXES,
        TRADES_DDL.format(pk=TRADES_PK["postgresql"]),
    ):
        conn.execute(ddl)
    conn.commit()
    return conn


def floor_pg(path: str, url: str) -> None:
    conn = _pg_tables(url)
    ledger_sql = (
        f"INSERT INTO imported_executions ({LEDGER_COLS}) VALUES (%s,%s,%s,%s,%s) "
        "ON CONFLICT DO NOTHING"
    )
    trades_sql = (
        f"INSERT INTO trades ({TRADES_COLS}) VALUES ({','.join(['%s'] * 16)}) "
        "ON CONFLICT DO NOTHING"
    )
    with conn.cursor() as cur:
        for ledger, trades in _batches(path):
            cur.executemany(ledger_sql, ledger)
            cur.executemany(trades_sql, trades)
            conn.commit()
        conn.commit()
    conn.close()


def copy_pg(path: str, url: str) -> None:
    conn = _pg_tables(url)
    with conn.cursor() as cur:
        with cur.copy(f"COPY imported_executions ({LEDGER_COLS}) FROM STDIN") as cp:
            for led, _ in _rows(path):
                cp.write_row(led)
        with cur.copy(f"COPY trades ({TRADES_COLS}) FROM STDIN") as cp:
            for _, trade in _rows(path):
                cp.write_row(trade)
    conn.commit()
    conn.close()


def libpq(url: str) -> str:
    """A SQLAlchemy psycopg URL as libpq takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


FLOORS = {"sqlite": floor_sqlite, "pg": floor_pg, "copy": copy_pg}


def main(argv: list[str]) -> int:
    kind, path, target = argv
    FLOORS[kind](path, target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
