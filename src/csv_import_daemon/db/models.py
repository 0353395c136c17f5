"""SQLAlchemy 2.x typed models; the Alembic revisions create exactly these tables."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
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


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Trade(Base):
    """One imported execution (fill), times in UTC."""

    __tablename__ = "trades"
    __table_args__ = (
        Index("uq_trades_execution_id", "execution_id", unique=True),
        # Round trips read one (account, instrument) from a point in time (revision 0005).
        Index("ix_trades_account_instrument_executed_at", "account", "instrument", "executed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(String(LIMITS["execution_id"]), nullable=False)
    account: Mapped[str] = mapped_column(String(LIMITS["account"]), nullable=False)
    instrument: Mapped[str] = mapped_column(String(LIMITS["instrument"]), nullable=False)
    action: Mapped[str] = mapped_column(String(LIMITS["action"]), nullable=False)
    entry_exit: Mapped[str | None] = mapped_column(String(LIMITS["entry_exit"]))
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    price: Mapped[Decimal] = mapped_column(ExactDecimal(), nullable=False)
    executed_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False)
    commission: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    order_id: Mapped[str | None] = mapped_column(String(LIMITS["order_id"]))
    order_name: Mapped[str | None] = mapped_column(String(LIMITS["order_name"]))
    connection: Mapped[str | None] = mapped_column(String(LIMITS["connection"]))
    position_after: Mapped[str | None] = mapped_column(String(LIMITS["position_after"]))
    source_file: Mapped[str] = mapped_column(Text, nullable=False)
    source_line: Mapped[int] = mapped_column(Integer, nullable=False)
    imported_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False)
    # Columns the importer maps nowhere else (TradeValidation, Rate, ...): JSON text.
    extra: Mapped[str | None] = mapped_column(Text)


class ImportFile(Base):
    """The checkpoint of one file as one daemon instance sees it."""

    __tablename__ = "import_files"
    __table_args__ = (Index("uq_import_files_instance_path", "instance", "path", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance: Mapped[str] = mapped_column(String(255), nullable=False)
    path: Mapped[str] = mapped_column(Text, nullable=False)
    device: Mapped[int | None] = mapped_column(BigInteger)
    inode: Mapped[int | None] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    mtime_ns: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    ctime_ns: Mapped[int | None] = mapped_column(BigInteger)
    head_hash: Mapped[str | None] = mapped_column(String(64))
    offset: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    lines_consumed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    pending_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    date_order: Mapped[str | None] = mapped_column(String(3))
    encoding: Mapped[str | None] = mapped_column(String(16))
    inserted: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rejected: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    conflicts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="ok")
    last_error: Mapped[str | None] = mapped_column(Text)
    archived_to: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False)
    # What settled the date order: content, name, folder or setting (then it was a guess).
    date_order_source: Mapped[str | None] = mapped_column(String(16))
    decimal_mark: Mapped[str | None] = mapped_column(String(1))
    # Set when the file was refused or rows rejected under settings that decide it: a
    # change of those settings makes the file be read again.
    settings_digest: Mapped[str | None] = mapped_column(String(64))
    # The zone its times were read in: verify reads the file in it again.
    source_timezone: Mapped[str | None] = mapped_column(String(64))


class ImportRejection(Base):
    """A rejected row or an ID conflict, with file, line and raw text."""

    __tablename__ = "import_rejections"
    __table_args__ = (
        Index("uq_import_rejections_fingerprint", "fingerprint", unique=True),
        Index("ix_import_rejections_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    source_file: Mapped[str] = mapped_column(Text, nullable=False)
    line: Mapped[int] = mapped_column(Integer, nullable=False)
    raw: Mapped[str] = mapped_column(Text, nullable=False)
    reason: Mapped[str] = mapped_column(String(32), nullable=False)
    detail: Mapped[str] = mapped_column(Text, nullable=False)
    execution_id: Mapped[str | None] = mapped_column(String(LIMITS["execution_id"]))
    created_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False)


class ImportedExecution(Base):
    """The spec's ledger: every execution ID ever imported, kept when a trade is deleted."""

    __tablename__ = "imported_executions"
    __table_args__ = (
        # One unique index serves both uniqueness and lookups; a unique constraint plus a
        # plain index on the same column cost about a third of the insert throughput.
        Index("idx_imported_executions_exec_id", "execution_id", unique=True),
        Index("idx_imported_executions_csv_file", "csv_filename"),
        Index("idx_imported_executions_timestamp", "import_timestamp"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(String(255), nullable=False)
    csv_filename: Mapped[str] = mapped_column(String(255), nullable=False)
    import_timestamp: Mapped[datetime] = mapped_column(
        DateTime(), nullable=False, server_default=func.current_timestamp()
    )
    account: Mapped[str | None] = mapped_column(String(50))
    instrument: Mapped[str | None] = mapped_column(String(50))


class DaemonInstance(Base):
    """One row per daemon instance: its heartbeat, so ``status`` can tell it is running."""

    __tablename__ = "daemon_instances"

    instance: Mapped[str] = mapped_column(String(255), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), nullable=False)
    pid: Mapped[int] = mapped_column(Integer, nullable=False)
    version: Mapped[str] = mapped_column(String(32), nullable=False)
    config_file: Mapped[str | None] = mapped_column(Text)
    watch_dir: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime())


class LedgerRetention(Base):
    """One ``db prune-ledger`` run: ledger rows of executions before ``horizon`` (UTC) whose
    trades existed were removed; the latest horizon refuses older unknown executions."""

    __tablename__ = "ledger_retention"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    horizon: Mapped[datetime] = mapped_column(DateTime(), nullable=False)
    pruned_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False)
    rows_pruned: Mapped[int] = mapped_column(BigInteger, nullable=False)


class TradeCorrection(Base):
    """One stored value that ``import --reread --replace`` replaced, kept with its source."""

    __tablename__ = "trade_corrections"
    __table_args__ = (Index("ix_trade_corrections_execution_id", "execution_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(String(LIMITS["execution_id"]), nullable=False)
    field: Mapped[str] = mapped_column(String(32), nullable=False)
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    source_file: Mapped[str] = mapped_column(Text, nullable=False)
    source_line: Mapped[int] = mapped_column(Integer, nullable=False)
    corrected_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False)


class RoundTrip(Base):
    """One round trip, flat to flat, of one (account, instrument); derived from trades."""

    __tablename__ = "round_trips"
    __table_args__ = (
        Index("ix_round_trips_account_instrument_opened_at", "account", "instrument", "opened_at"),
        # The incremental refresh finds the round trips a fill at time T affects by this.
        Index("ix_round_trips_account_instrument_closed_at", "account", "instrument", "closed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(LIMITS["account"]), nullable=False)
    instrument: Mapped[str] = mapped_column(String(LIMITS["instrument"]), nullable=False)
    direction: Mapped[str] = mapped_column(String(5), nullable=False)
    opened_at: Mapped[datetime] = mapped_column(DateTime(), nullable=False)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime())
    quantity: Mapped[int] = mapped_column(BigInteger, nullable=False)  # sums of fills
    open_quantity: Mapped[int] = mapped_column(BigInteger, nullable=False)
    entry_price: Mapped[Decimal | None] = mapped_column(WideDecimal())
    exit_price: Mapped[Decimal | None] = mapped_column(WideDecimal())
    points: Mapped[Decimal | None] = mapped_column(WideDecimal())
    pnl: Mapped[Decimal | None] = mapped_column(WideDecimal())
    commission: Mapped[Decimal | None] = mapped_column(WideDecimal())
    net_pnl: Mapped[Decimal | None] = mapped_column(WideDecimal())
    currency: Mapped[str | None] = mapped_column(String(3))


class RoundTripFill(Base):
    """The share of one execution in one round trip (a reversing fill has two)."""

    __tablename__ = "round_trip_fills"

    round_trip_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("round_trips.id"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    execution_id: Mapped[str] = mapped_column(String(LIMITS["execution_id"]), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    commission: Mapped[Decimal | None] = mapped_column(WideDecimal())
    role: Mapped[str] = mapped_column(String(5), nullable=False)
