"""r1: trades, plus the importer's own checkpoints and rejections.

Revision ID: 0001_trades
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_trades"
down_revision = None
branch_labels = None
depends_on = None

# Types and widths as they were at this revision, written out: a later change of the
# application's models must not change what an old revision creates.
# Exact money: NUMERIC(20, 8); SQLite has no decimal type, so canonical text there.
MONEY = sa.Numeric(20, 8).with_variant(sa.String(40), "sqlite")


def upgrade() -> None:
    op.create_table(
        "trades",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("execution_id", sa.String(255), nullable=False),
        sa.Column("account", sa.String(50), nullable=False),
        sa.Column("instrument", sa.String(50), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("entry_exit", sa.String(10)),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("executed_at", sa.DateTime(), nullable=False),
        sa.Column("commission", MONEY),
        sa.Column("order_id", sa.String(64)),
        sa.Column("order_name", sa.String(255)),
        sa.Column("connection", sa.String(100)),
        sa.Column("position_after", sa.String(20)),
        sa.Column("source_file", sa.Text(), nullable=False),
        sa.Column("source_line", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trades"),
    )
    op.create_index("uq_trades_execution_id", "trades", ["execution_id"], unique=True)

    op.create_table(
        "import_files",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("instance", sa.String(255), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("device", sa.BigInteger()),
        sa.Column("inode", sa.BigInteger()),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(64)),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("lines_consumed", sa.Integer(), nullable=False),
        sa.Column("pending_bytes", sa.BigInteger(), nullable=False),
        sa.Column("date_order", sa.String(3)),
        sa.Column("encoding", sa.String(16)),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("conflicts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("archived_to", sa.Text()),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_import_files"),
    )
    op.create_index(
        "uq_import_files_instance_path", "import_files", ["instance", "path"], unique=True
    )

    op.create_table(
        "import_rejections",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("execution_id", sa.String(255)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_import_rejections"),
    )
    op.create_index(
        "uq_import_rejections_fingerprint", "import_rejections", ["fingerprint"], unique=True
    )
    op.create_index("ix_import_rejections_created_at", "import_rejections", ["created_at"])


def downgrade() -> None:
    op.drop_table("import_rejections")
    op.drop_table("import_files")
    op.drop_table("trades")
