"""The read plan: everything decided about one file before its first row is read."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from pathlib import Path

from csv_import_daemon.files.reader import FileStat, Header
from csv_import_daemon.importing.checkpoint import Checkpoint
from csv_import_daemon.importing.conventions import Pins, Reading
from csv_import_daemon.importing.identity import Resume
from csv_import_daemon.parsing.row_parser import DateOrder, Layout


@dataclass(frozen=True, slots=True)
class HeldBack:
    """The stand-ins of a file saved over that are not stored (``importing.rewrites``)."""

    ids: frozenset[str]
    gone: int  # fills read from the file before that it no longer holds

    def detail(self, execution_id: str) -> str:
        return (
            f"the file was saved over and {self.gone} fill(s) read from it before are no "
            f"longer in it: this row (stand-in {execution_id}) may be one of them edited, "
            "so it is not stored beside it; if the file is right now, delete the old "
            "trades and run import --reread on it"
        )

    def summary(self) -> str:
        return (
            f"rewritten: {self.gone} fill(s) read from this file before are no longer in it; "
            f"{len(self.ids)} row(s) that may be them edited are held back (rejected as "
            "rewritten), never stored twice; if the file is right now, delete the old "
            "trades and run import --reread on it"
        )


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """One import of one file: what it is, where reading starts, how rows are read."""

    path: Path
    key: str  # the checkpoint key and trades.source_file
    stat: FileStat
    header: Header
    layout: Layout
    reading: Reading  # date order and decimal mark, and what settled them
    resume: Resume
    # May a last line without a newline be read as final (the file is quiet)?
    final_line_ok: bool
    prior: Checkpoint | None
    # --reread --replace: the file's reading replaces stored content that differs.
    replace: bool = False
    # A file without IDs saved over, no longer holding what was read: rows not stored.
    held_back: HeldBack | None = None

    @property
    def pins(self) -> Pins:
        """The zone, and a repair's date order and decimal mark, kept with the file."""
        return self.reading.pins

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.reading.pins.zone)

    @property
    def date_order(self) -> DateOrder | None:
        return self.reading.date_order

    @property
    def start(self) -> int:
        return self.resume.start

    @property
    def first_line(self) -> int:
        return self.resume.first_line

    @property
    def csv_filename(self) -> str:
        """The ledger's file-name column: the name alone, at most 255 characters."""
        return self.key.rpartition("/")[2][:255]
