"""r8: import_files.ctime_ns, the inode change time a checkpoint was taken at.

Size and mtime alone took a file overwritten with other content of the same size, its
mtime set back (``cp -p``, ``touch -r``), as unchanged; no program can set the ctime.
Existing checkpoints get NULL: their files pass the content check once.

Revision ID: 0008_file_ctime
Revises: 0007_ledger_retention
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_file_ctime"
down_revision = "0007_ledger_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("import_files") as batch:
        batch.add_column(sa.Column("ctime_ns", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("import_files") as batch:
        batch.drop_column("ctime_ns")
