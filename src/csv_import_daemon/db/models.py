"""The journal's tables as SQLAlchemy Core `Table`s; the Alembic revisions create exactly these.

Core, not ORM classes: nothing maps rows to objects, and `sqlalchemy.orm` costs every
command about 40 ms of start-up.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

from csv_import_daemon.parsing.limits import LIMITS

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class ExactDecimal(TypeDecorator[Decimal]):
    """Exact decimal money: NUMERIC on PostgreSQL, canonical text on SQLite.

    SQLite has no decimal type and would round-trip through a binary float.
    """

    impl = Numeric(20, 8)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(20, 8))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return format(value, "f")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return _decimal_of(value)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        if dialect.name == "sqlite":  # text: one call a value, not TypeDecorator's two
            return _decimal_of
        return super().result_processor(dialect, coltype)


def _decimal_of(value: Any) -> Decimal | None:
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


class WideDecimal(ExactDecimal):
    """Exact decimal for derived sums (round trips): NUMERIC(38, 8) on PostgreSQL.

    A round trip adds up many fills, each already at most NUMERIC(20, 8).
    """

    impl = Numeric(38, 8)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(60))
        return dialect.type_descriptor(Numeric(38, 8))


METADATA = MetaData(naming_convention=NAMING_CONVENTION)


# One imported execution (fill), times in UTC.
TRADES = Table(
    "trades",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("execution_id", String(LIMITS["execution_id"]), nullable=False),
    Column("account", String(LIMITS["account"]), nullable=False),
    Column("instrument", String(LIMITS["instrument"]), nullable=False),
    Column("action", String(LIMITS["action"]), nullable=False),
    Column("entry_exit", String(LIMITS["entry_exit"])),
    Column("quantity", Integer, nullable=False),
    Column("price", ExactDecimal(), nullable=False),
    Column("executed_at", DateTime(), nullable=False),
    Column("commission", ExactDecimal()),
    Column("order_id", String(LIMITS["order_id"])),
    Column("order_name", String(LIMITS["order_name"])),
    Column("connection", String(LIMITS["connection"])),
    Column("position_after", String(LIMITS["position_after"])),
    Column("source_file", Text, nullable=False),
    Column("source_line", Integer, nullable=False),
    Column("imported_at", DateTime(), nullable=False),
    # Columns the importer maps nowhere else (TradeValidation, Rate, ...): JSON text.
    Column("extra", Text),
    # The instrument's contract (config.contracts), set on every insert; null only in a row
    # written by hand (a rebuild fills it).
    Column("contract", String(60)),
    # The ISO code of the commission's symbol or code as the file wrote it; null: none.
    Column("commission_currency", String(3)),
    # How exact ``executed_at`` is (revision 0015): null, to the second as written;
    # "minute", written without seconds (a spreadsheet's re-save), so the exact time of
    # the same fill replaces it when it comes; "unknown", on a whole minute and stored
    # before 0015 (whether seconds were written is not known: never replaced on a guess).
    Column("time_precision", String(7)),
    # Where commission came from: file, schedule or schedule_over_zero (the commissions
    # setting); null: neither gave one (revision 0017).
    Column("commission_source", String(20)),
    Index("uq_trades_execution_id", "execution_id", unique=True),
    # Round trips read one (account, contract) from a point in time (revision 0010).
    Index("ix_trades_account_contract_executed_at", "account", "contract", "executed_at"),
    # What a file gave (importing.rewrites) and its last fill (the archiver), revision 0016.
    Index("ix_trades_source_file_executed_at", "source_file", "executed_at"),
    # The consistency check of every report: the quantities' sum read from it alone, and
    # the fills whose commission the setting gave found without a scan (revision 0019).
    Index("ix_trades_commission_source_quantity", "commission_source", "quantity"),
)


def utc_now() -> datetime:
    """Now as every DateTime column stores it: naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def sqlite_time(value: datetime) -> str:
    """SQLAlchemy's SQLite DATETIME text ("YYYY-MM-DD HH:MM:SS.ffffff"), made in C (the
    writer checks the format against SQLAlchemy's own at start)."""
    text = value.isoformat(" ")
    return text + ".000000" if len(text) == 19 else text


class CheckpointStatus(StrEnum):
    """What ``import_files.status`` holds: how far a file's reading got."""

    OK = "ok"  # read to its end (a half line may wait for its newline)
    READING = "reading"  # saved between batches: the bytes after the offset are unread
    REFUSED = "refused"  # not an executions export: never read as rows
    # An ``import --reread --replace`` cut short: the rest must still replace what is stored.
    REPAIR_PENDING = "repair_pending"
    # A file without IDs saved over that lost fills read before: rows that may be them,
    # edited, were held back (rejected as ``rewritten``) rather than stored twice.
    REWRITTEN = "rewritten"


# The checkpoint of one file as one daemon instance sees it.
FILES = Table(
    "import_files",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("instance", String(255), nullable=False),
    Column("path", Text, nullable=False),
    Column("device", BigInteger),
    Column("inode", BigInteger),
    Column("size", BigInteger, nullable=False, default=0),
    Column("mtime_ns", BigInteger, nullable=False, default=0),
    Column("ctime_ns", BigInteger),
    Column("head_hash", String(64)),
    Column("offset", BigInteger, nullable=False, default=0),
    Column("lines_consumed", Integer, nullable=False, default=0),
    Column("pending_bytes", BigInteger, nullable=False, default=0),
    Column("date_order", String(3)),
    Column("encoding", String(16)),
    Column("inserted", Integer, nullable=False, default=0),
    Column("duplicates", Integer, nullable=False, default=0),
    Column("rejected", Integer, nullable=False, default=0),
    Column("conflicts", Integer, nullable=False, default=0),
    Column("status", String(16), nullable=False, default=CheckpointStatus.OK.value),
    Column("last_error", Text),
    Column("archived_to", Text),
    Column("updated_at", DateTime(), nullable=False),
    # What settled the date order: content, name, folder or setting (then it was a guess).
    Column("date_order_source", String(16)),
    Column("decimal_mark", String(1)),
    # Set when the file was refused or rows rejected under settings that decide it: a
    # change of those settings makes the file be read again.
    Column("settings_digest", String(64)),
    # The zone its times were read in: verify reads the file in it again.
    Column("source_timezone", String(64)),
    # A repair's explicit date order and decimal mark: later appends and re-reads keep them.
    Column("pinned_date_order", String(3)),
    Column("pinned_decimal_mark", String(1)),
    Index("uq_import_files_instance_path", "instance", "path", unique=True),
)


# A rejected row or an ID conflict, with file, line and raw text.
REJECTIONS = Table(
    "import_rejections",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fingerprint", String(64), nullable=False),
    Column("source_file", Text, nullable=False),
    Column("line", Integer, nullable=False),
    Column("raw", Text, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("execution_id", String(LIMITS["execution_id"])),
    Column("created_at", DateTime(), nullable=False),
    Index("uq_import_rejections_fingerprint", "fingerprint", unique=True),
    Index("ix_import_rejections_created_at", "created_at"),
)


# The spec's ledger: every execution ID ever imported, kept when a trade is deleted.
LEDGER = Table(
    "imported_executions",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("execution_id", String(255), nullable=False),
    Column("csv_filename", String(255), nullable=False),
    Column("import_timestamp", DateTime(), nullable=False, server_default=func.current_timestamp()),
    Column("account", String(50)),
    Column("instrument", String(50)),
    # One unique index serves both uniqueness and lookups; a unique constraint plus a
    # plain index on the same column cost about a third of the insert throughput.
    Index("idx_imported_executions_exec_id", "execution_id", unique=True),
    Index("idx_imported_executions_csv_file", "csv_filename"),
    Index("idx_imported_executions_timestamp", "import_timestamp"),
)


# One row per daemon instance: its heartbeat, so ``status`` can tell it is running.
INSTANCES = Table(
    "daemon_instances",
    METADATA,
    Column("instance", String(255), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("version", String(32), nullable=False),
    Column("config_file", Text),
    Column("watch_dir", Text),
    Column("started_at", DateTime(), nullable=False),
    Column("heartbeat_at", DateTime(), nullable=False),
    Column("stopped_at", DateTime()),
)


# The settings that decide stored values, recorded per instance when first used.
RECORDED = Table(
    "instance_settings",
    METADATA,
    Column("instance", String(255), primary_key=True),
    Column("source_timezone", String(64), nullable=False),
    Column("date_order", String(4)),  # None: auto
    Column("decimal_mark", String(1)),  # None: auto
    Column("default_account", String(50)),
    Column("recorded_at", DateTime(), nullable=False),
    Column("updated_at", DateTime(), nullable=False),
)


# One ``db prune-ledger`` run: ledger rows of executions before ``horizon`` (UTC) whose
# trades existed were removed; the latest horizon refuses older unknown executions.
RETENTION = Table(
    "ledger_retention",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("horizon", DateTime(), nullable=False),
    Column("pruned_at", DateTime(), nullable=False),
    Column("rows_pruned", BigInteger, nullable=False),
)


# One stored value that ``import --reread --replace`` replaced, kept with its source.
CORRECTIONS = Table(
    "trade_corrections",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("execution_id", String(LIMITS["execution_id"]), nullable=False),
    Column("field", String(32), nullable=False),
    Column("old_value", Text),
    Column("new_value", Text),
    Column("source_file", Text, nullable=False),
    Column("source_line", Integer, nullable=False),
    Column("corrected_at", DateTime(), nullable=False),
    Index("ix_trade_corrections_execution_id", "execution_id"),
)


# One round trip, flat to flat, of one (account, instrument); derived from trades.
ROUND_TRIPS = Table(
    "round_trips",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(LIMITS["account"]), nullable=False),
    Column("instrument", String(LIMITS["instrument"]), nullable=False),
    Column("direction", String(5), nullable=False),
    Column("opened_at", DateTime(), nullable=False),
    Column("closed_at", DateTime()),
    Column("quantity", BigInteger, nullable=False),  # sums of fills
    Column("open_quantity", BigInteger, nullable=False),
    Column("entry_price", WideDecimal()),
    Column("exit_price", WideDecimal()),
    Column("points", WideDecimal()),
    Column("pnl", WideDecimal()),
    Column("commission", WideDecimal()),
    Column("net_pnl", WideDecimal()),
    Column("currency", String(3)),
    Column("contract", String(60)),  # set on every write (revision 0010)
    # The currency ``commission`` is in; where not ``currency``, ``net_pnl`` is null (0014).
    Column("commission_currency", String(3)),
    Index("ix_round_trips_account_contract_opened_at", "account", "contract", "opened_at"),
    # The incremental refresh finds the round trips a fill at time T affects by this.
    Index("ix_round_trips_account_contract_closed_at", "account", "contract", "closed_at"),
)


# The open round trip's FIFO state (open lots and exact sums, JSON): an import continues it
# from here instead of re-reading its fills (revision 0012). One row per open round trip.
ROUND_TRIP_STATE = Table(
    "round_trip_state",
    METADATA,
    Column("round_trip_id", Integer, ForeignKey("round_trips.id"), primary_key=True),
    Column("state", Text, nullable=False),
)


# The share of one execution in one round trip (a reversing fill has two).
ROUND_TRIP_FILLS = Table(
    "round_trip_fills",
    METADATA,
    Column("round_trip_id", Integer, ForeignKey("round_trips.id"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("execution_id", String(LIMITS["execution_id"]), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("commission", WideDecimal()),
    Column("role", String(5), nullable=False),
)


# What each round trip realized, per UTC hour of its fills and commission currency
# (revision 0018): pnl adds these up in SQL instead of replaying every part's FIFO. Amounts
# are exact integers of 1e-8 (SQLite sums integers exactly); null where beyond 64 bits.
# Clustered in the order pnl groups by (no sort on SQLite); one row per run of parts.
ROUND_TRIP_BOOKINGS = Table(
    "round_trip_bookings",
    METADATA,
    Column("account", String(LIMITS["account"]), primary_key=True),
    Column("contract", String(60), primary_key=True),
    Column("instrument", String(LIMITS["instrument"]), primary_key=True),  # the round trip's
    Column("commission_currency", String(3), primary_key=True),  # its fills'; '': the P&L's
    Column("utc_hour", Integer, primary_key=True),  # hours since 1970-01-01 00:00 UTC
    Column("round_trip_id", Integer, ForeignKey("round_trips.id"), primary_key=True),
    Column("seq", Integer, primary_key=True),  # its first part's
    Column("points", BigInteger),  # realized, signed, in 1e-8 points
    Column("commission", BigInteger),  # in 1e-8 of its currency
    Column("charged", Integer, nullable=False),  # 1: a part of it has a commission
    # The most decimal places of its parts' points (at least 2; 99: an amount is null).
    Column("places", Integer, nullable=False),
    Column("parts", Integer, nullable=False),
    Index("ix_round_trip_bookings_round_trip_id", "round_trip_id"),
    sqlite_with_rowid=False,
)
