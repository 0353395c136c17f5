"""The read plan: everything decided about one file before its first row is read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from csv_import_daemon.files.reader import FileStat, Header
from csv_import_daemon.importing.checkpoint import Checkpoint
from csv_import_daemon.importing.conventions import Reading
from csv_import_daemon.importing.identity import Resume
from csv_import_daemon.parsing.row_parser import DateOrder, Layout


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

    @property
    def date_order(self) -> DateOrder:
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
