"""Stand-in IDs of releases up to 0.2.0 that a journal still holds.

Those stand-ins hashed a row's text; revision 0009 renamed every one it could recompute
from the stored trade (see docs/architecture.md). What it could not (a trade deleted since,
whose ledger row alone remains; a file whose zone no checkpoint records) keeps its old ID,
so an importer recognises such a row by its old stand-in too: a deleted trade stays deleted.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Connection, bindparam, exists, select, union

from csv_import_daemon.db.tables import LEDGER, TRADES
from csv_import_daemon.parsing.stand_ins import LEGACY_PREFIX

LOOKUP_IDS = 1000  # IDs per query: well under every parameter limit

_ANY_LEFT = select(
    exists().where(LEDGER.c.execution_id.like(LEGACY_PREFIX + "%"))
    | exists().where(TRADES.c.execution_id.like(LEGACY_PREFIX + "%"))
)
_KNOWN = union(
    select(LEDGER.c.execution_id).where(
        LEDGER.c.execution_id.in_(bindparam("ids", expanding=True))
    ),
    select(TRADES.c.execution_id).where(
        TRADES.c.execution_id.in_(bindparam("ids", expanding=True))
    ),
)


def any_left(conn: Connection) -> bool:
    """Does the journal hold an old stand-in at all? (Once per service: none are made.)"""
    return bool(conn.scalar(_ANY_LEFT))


def known(conn: Connection, ids: Collection[str]) -> set[str]:
    """Which of these old stand-ins the ledger or trades hold (a pruned ledger keeps
    no row of a trade that still exists)."""
    ordered = sorted(set(ids))
    found: set[str] = set()
    for i in range(0, len(ordered), LOOKUP_IDS):
        found.update(conn.scalars(_KNOWN, {"ids": ordered[i : i + LOOKUP_IDS]}))
    return found
