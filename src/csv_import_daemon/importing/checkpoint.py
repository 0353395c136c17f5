"""Checkpoints: how far one instance has read each file, as a typed value and its store.

A checkpoint is loaded once per import and passed down; a new one is saved in the same
transaction as the rows it vouches for, so the two can never disagree.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite

from csv_import_daemon.db.engine import writing
from csv_import_daemon.db.tables import FILES, CheckpointStatus, utc_now
from csv_import_daemon.files.names import path_key, path_of_key
from csv_import_daemon.files.reader import FileStat
from csv_import_daemon.importing.known_files import KnownFiles
from csv_import_daemon.importing.result import Counts

COUNT_FIELDS = ("inserted", "duplicates", "rejected", "conflicts")
# The date_order_source of a file nothing has settled yet (date_order = auto): its rows
# whose date reads two ways wait, rejected as ambiguous_date.
UNSETTLED = "unsettled"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One row of ``import_files``: the file's identity and version when it was last read,
    where reading stopped, and what it has given so far."""

    path: str
    stat: FileStat
    head_hash: str | None = None
    offset: int = 0
    lines_consumed: int = 0
    pending_bytes: int = 0
    date_order: str | None = None
    encoding: str | None = None
    totals: Counts = dataclasses.field(default_factory=Counts)
    status: CheckpointStatus = CheckpointStatus.OK
    last_error: str | None = None
    archived_to: str | None = None
    # How the file is read: what settled its date order (checkpoint, content, name, folder
    # or setting), its decimal mark, and the digest of the settings that decided rows.
    date_order_source: str | None = None
    decimal_mark: str | None = None
    settings_digest: str | None = None
    source_timezone: str | None = None  # the zone its times were converted from
    # A repair's explicit date order and decimal mark: they stay with the file.
    pinned_date_order: str | None = None
    pinned_decimal_mark: str | None = None

    @property
    def refused(self) -> bool:
        return self.status is CheckpointStatus.REFUSED

    @property
    def repair_pending(self) -> bool:
        return self.status is CheckpointStatus.REPAIR_PENDING

    def same_version(self, st: FileStat) -> bool:
        """Same identity, size, mtime and ctime: nothing can have changed since it was read.
        Anything else (a checkpoint without a ctime included) goes through the content
        check (the hashes of ``identity``) before the file is taken as unchanged."""
        return self.stat == st

    @classmethod
    def from_row(cls, row: Any) -> Checkpoint:
        m = row._mapping
        return cls(
            path=m["path"],
            stat=FileStat(
                m["device"] or 0, m["inode"] or 0, m["size"], m["mtime_ns"], m["ctime_ns"] or 0
            ),
            head_hash=m["head_hash"],
            offset=m["offset"],
            lines_consumed=m["lines_consumed"],
            pending_bytes=m["pending_bytes"],
            date_order=m["date_order"],
            encoding=m["encoding"],
            totals=Counts(*(m[k] for k in COUNT_FIELDS)),
            status=CheckpointStatus(m["status"]),
            last_error=m["last_error"],
            archived_to=m["archived_to"],
            date_order_source=m["date_order_source"],
            decimal_mark=m["decimal_mark"],
            settings_digest=m["settings_digest"],
            source_timezone=m["source_timezone"],
            pinned_date_order=m.get("pinned_date_order"),
            pinned_decimal_mark=m.get("pinned_decimal_mark"),
        )

    def values(self) -> dict[str, Any]:
        """The row's columns (without the owning instance)."""
        return {
            "path": self.path,
            "device": self.stat.device,
            "inode": self.stat.inode,
            "size": self.stat.size,
            "mtime_ns": self.stat.mtime_ns,
            "ctime_ns": self.stat.ctime_ns,
            "head_hash": self.head_hash,
            "offset": self.offset,
            "lines_consumed": self.lines_consumed,
            "pending_bytes": self.pending_bytes,
            "date_order": self.date_order,
            "encoding": self.encoding,
            **{k: getattr(self.totals, k) for k in COUNT_FIELDS},
            "status": self.status.value,
            "last_error": self.last_error,
            "archived_to": self.archived_to,
            "date_order_source": self.date_order_source,
            "decimal_mark": self.decimal_mark,
            "settings_digest": self.settings_digest,
            "source_timezone": self.source_timezone,
            "pinned_date_order": self.pinned_date_order,
            "pinned_decimal_mark": self.pinned_decimal_mark,
        }


class CheckpointStore:
    """Loads and saves one instance's checkpoints; ``save`` joins the caller's transaction.

    Statements are built once: building an upsert per save cost more than running it
    (profiled: a quarter of a small file's import).
    """

    def __init__(self, engine: Engine, instance: str) -> None:
        self.engine = engine
        self.instance = instance
        self.known = KnownFiles()
        self._unsettled: set[str] | None = None  # see unsettled_beside
        insert = sqlite.insert if engine.dialect.name == "sqlite" else postgresql.insert
        mine = FILES.c.instance == bindparam("instance_key")
        self._load = select(FILES).where(mine, FILES.c.path == bindparam("path_key"))
        self._by_identity = select(FILES).where(
            mine, FILES.c.device == bindparam("device_key"), FILES.c.inode == bindparam("inode_key")
        )
        stmt = insert(FILES)
        columns = [*Checkpoint(path="", stat=FileStat(0, 0, 0, 0)).values(), "updated_at"]
        update: dict[str, Any] = {k: stmt.excluded[k] for k in columns if k != "path"}
        # A file read again where it was archived stays archived (a late line, a content
        # check after the move changed its ctime): only a move sets or clears it.
        update["archived_to"] = func.coalesce(stmt.excluded.archived_to, FILES.c.archived_to)
        self._upsert = stmt.on_conflict_do_update(index_elements=["instance", "path"], set_=update)

    def load_known(self, digest: str) -> int:
        """Fill ``known`` from the database (one query); how many checkpoints it read.
        ``digest``: the settings in force (see ``KnownFiles.load``)."""
        with self.engine.connect() as conn:
            return self.known.load(conn, self.instance, digest)

    def load(self, conn: Connection, key: str) -> Checkpoint | None:
        row = conn.execute(self._load, {"instance_key": self.instance, "path_key": key}).first()
        return Checkpoint.from_row(row) if row else None

    def unsettled_beside(self, key: str) -> tuple[Path, ...]:
        """The other files of ``key``'s folder whose date order is still open (their rows
        that read two ways wait as ambiguous_date). One query per process, then kept by
        ``save``: a stale entry only costs a look at that file."""
        if self._unsettled is None:
            cols = FILES.c
            query = select(cols.path).where(
                cols.instance == self.instance, cols.date_order_source == UNSETTLED
            )
            with self.engine.connect() as conn:
                self._unsettled = set(conn.execute(query).scalars())
        folder = key.rpartition("/")[0] + "/"
        keys = sorted(
            p
            for p in self._unsettled
            if p != key and p.startswith(folder) and "/" not in p[len(folder) :]
        )
        return tuple(path_of_key(k) for k in keys if path_of_key(k).is_file())

    def find_by_identity(self, conn: Connection, st: FileStat) -> list[Checkpoint]:
        rows = conn.execute(
            self._by_identity,
            {"instance_key": self.instance, "device_key": st.device, "inode_key": st.inode},
        )
        return [Checkpoint.from_row(row) for row in rows]

    def save(self, conn: Connection, cp: Checkpoint) -> None:
        self.known.saving(cp)
        if self._unsettled is not None:
            if cp.date_order_source == UNSETTLED:
                self._unsettled.add(cp.path)
            else:
                self._unsettled.discard(cp.path)
        conn.execute(
            self._upsert, {**cp.values(), "instance": self.instance, "updated_at": utc_now()}
        )

    def _rekey(self, conn: Connection, old: str, new: str, archived: bool) -> None:
        self.known.forget(old)
        self.known.forget(new)
        if self._unsettled is not None and old in self._unsettled:
            self._unsettled.discard(old)
            self._unsettled.add(new)
        conn.execute(FILES.delete().where(FILES.c.instance == self.instance, FILES.c.path == new))
        values: dict[str, Any] = {"path": new, "updated_at": utc_now()}
        if archived:
            values["archived_to"] = new
        conn.execute(
            FILES.update()
            .where(FILES.c.instance == self.instance, FILES.c.path == old)
            .values(**values)
        )

    def move(self, old: Path, new: Path, *, archived: bool = False) -> None:
        """Carry a file's checkpoint to its new path (after a rename or an archive move)."""
        with writing(self.engine) as conn:
            self._rekey(conn, path_key(old), path_key(new), archived)

    def adopt_renamed(
        self, key: str, st: FileStat, conn: Connection | None = None
    ) -> Checkpoint | None:
        """A file renamed within the folder keeps its checkpoint (same device and inode,
        old path gone). A plain read finds it; a write transaction opens only to move it.
        With ``conn`` (a write transaction already open) both happen there. No query at
        all when no checkpoint of the instance has this identity."""
        if not self.known.may_have_identity(st):
            return None
        if conn is not None:
            candidates = self.find_by_identity(conn, st)
        else:
            with self.engine.connect() as reading:
                candidates = self.find_by_identity(reading, st)
        for cp in candidates:
            if os.path.exists(path_of_key(cp.path)):
                continue
            if conn is not None:
                self._rekey(conn, cp.path, key, archived=False)
            else:
                with writing(self.engine) as moving:
                    self._rekey(moving, cp.path, key, archived=False)
            return dataclasses.replace(cp, path=key)
        return None


def starting_counts(prior: Checkpoint | None, *, resumed: bool) -> Counts:
    """What a file's counts start from: a resumed read adds to them; a read from the start
    is the file's reading now, so rejections and conflicts it no longer gives are no longer
    its problems (their records stay as history). Rows it inserted stay counted."""
    if prior is None:
        return Counts()
    return prior.totals if resumed else Counts(inserted=prior.totals.inserted)
