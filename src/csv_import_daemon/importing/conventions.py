"""How a file's dates and numbers are read, settled before its first row is stored.

Date order, from the first evidence that settles it: the order already settled for this
file (its checkpoint); an unambiguous date in the file (a day above 12); the file's name
(``producers``: an execution cannot be later than a grid export's moment, nor earlier than
the day before the add-on's session date); the producer (the add-on's daily file is
month-first on every PC); an unambiguous date in another grid export of the same folder
(same PC, same regional setting); then the ``date_order`` setting. With ``date_order =
auto`` and nothing settled, the order stays open (``None``): rows whose date reads two ways
are rejected as ``ambiguous_date`` and read again once evidence arrives.

Decimal mark: the checkpoint, then the values in the file, then the ``decimal_mark``
setting; when none settles it the parser settles it from the first value that shows it.

Reads are bounded (a head and a tail of the file, a head of each sibling): a full-file scan
cost 13 % of a bulk import. Only when those windows leave the order open is the rest of the
file scanned, block by block, for its first unambiguous date.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from csv_import_daemon.config.commissions import CommissionSchedule
from csv_import_daemon.config.settings import Settings
from csv_import_daemon.errors import NotRegularFileError, UnknownFormatError
from csv_import_daemon.files import reader
from csv_import_daemon.files.names import is_candidate_name, path_key
from csv_import_daemon.files.reader import FileStat
from csv_import_daemon.importing.checkpoint import UNSETTLED, Checkpoint
from csv_import_daemon.logs import get_logger
from csv_import_daemon.parsing.decimal_mark import DecimalMark, mark_from_values
from csv_import_daemon.parsing.fields import DateOrder, date_order_from_times
from csv_import_daemon.parsing.layout import Layout, LayoutOptions, sniff_layout
from csv_import_daemon.parsing.producers import (
    date_order_from_name,
    fixed_date_order,
    folder_evidence,
    producer_of,
)
from csv_import_daemon.parsing.row_parser import ParseOptions, split_lines

log = get_logger(__name__)

HEAD_SAMPLE = 256 * 1024  # bytes of a file's first data lines read for evidence
TAIL_SAMPLE = 64 * 1024  # and of its last ones
SIBLING_SAMPLE = 64 * 1024
MAX_SIBLINGS = 64


@dataclass(frozen=True, slots=True)
class Reading:
    """How one file is read: its date order (and what settled it) and its decimal mark."""

    date_order: DateOrder | None  # None: unsettled (date_order = auto, no evidence)
    # checkpoint, content, name, producer, folder, setting or unsettled
    date_order_source: str
    decimal_mark: DecimalMark | None
    parse: ParseOptions
    pins: Pins  # the zone, and a repair's date order and decimal mark, kept with the file


@dataclass(frozen=True, slots=True)
class Pins:
    """What stays with one file: the zone its times are read in, and the date order and
    decimal mark a repair gave explicitly (they decide where the settings would)."""

    zone: str
    date_order: str | None = None
    decimal_mark: str | None = None

    def fallbacks(self, settings: Settings) -> Settings:
        """``settings`` with this file's pinned values as its fallbacks."""
        values: dict[str, str] = {"source_timezone": self.zone}
        if self.date_order is not None:
            values["date_order"] = self.date_order
        if self.decimal_mark is not None:
            values["decimal_mark"] = self.decimal_mark
        return dataclasses.replace(settings, **values)  # type: ignore[arg-type]


def file_pins(settings: Settings, prior: Checkpoint | None, *, repair: bool) -> Pins:
    """How one file is read. A file already read keeps its zone and its repair's pins,
    whatever the settings say now (appends, re-reads, the daemon); an explicit repair
    (``--reread --replace``) reads in the settings in force and pins the date order and
    decimal mark it was given."""
    kept = prior or Checkpoint(path="", stat=FileStat(0, 0, 0, 0))
    if not repair:
        return Pins(
            kept.source_timezone or settings.source_timezone,
            kept.pinned_date_order,
            kept.pinned_decimal_mark,
        )
    return Pins(
        settings.source_timezone,
        settings.date_order if settings.date_order != "auto" else kept.pinned_date_order,
        settings.decimal_mark if settings.decimal_mark != "auto" else kept.pinned_decimal_mark,
    )


def layout_options(settings: Settings) -> LayoutOptions:
    return LayoutOptions(
        header_aliases=settings.header_aliases, default_account=settings.default_account
    )


def settings_digest(settings: Settings) -> str:
    """A digest of the settings that can decide whether a file or a row is importable."""
    decisive: dict[str, object] = {
        "decimal_mark": settings.decimal_mark,
        "default_account": settings.default_account,
        "header_aliases": dict(sorted(settings.header_aliases.items())),
        "action_aliases": dict(sorted(settings.action_aliases.items())),
        "entry_exit_aliases": dict(sorted(settings.entry_exit_aliases.items())),
    }
    if settings.date_order != "auto":  # (left out when auto: older digests stay valid)
        decisive["date_order"] = settings.date_order
    return hashlib.sha256(json.dumps(decisive, sort_keys=True).encode()).hexdigest()[:32]


def _sample_rows(f: BinaryIO, header: reader.Header, layout: Layout, size: int) -> list[list[str]]:
    """The fields of the complete lines in a bounded head and tail of the data."""
    nl = reader.newline_of(header.encoding)
    length = max(0, size - header.data_start)
    whole = length <= HEAD_SAMPLE + TAIL_SAMPLE
    f.seek(header.data_start)
    head = f.read(length if whole else HEAD_SAMPLE)
    blocks = [head[: head.rfind(nl) + len(nl)]]
    if not whole:
        f.seek(size - TAIL_SAMPLE)
        tail = f.read(TAIL_SAMPLE)
        blocks.append(tail[tail.find(nl) + len(nl) : tail.rfind(nl) + len(nl)])
    texts: list[str] = []
    for block in blocks:
        texts += [
            reader.decode_line(raw, header.encoding).rstrip("\r")
            for raw in block.split(nl)
            if raw.strip(b"\x00\r\n ")
        ]
    return [fields for fields in split_lines(texts, layout) if len(fields) >= 2]


def _scan_for_order(
    f: BinaryIO, header: reader.Header, layout: Layout, size: int
) -> DateOrder | None:
    """The file's first unambiguous date, read block by block (only when the head and tail
    windows settle nothing: memory stays one block)."""
    index = layout.columns.get("time")
    if index is None:
        return None
    for chunk in reader.iter_chunks(f, header.data_start, 2, header.encoding, size):
        times = (
            fields[index] for fields in split_lines(chunk.texts, layout) if index < len(fields)
        )
        found = date_order_from_times(times)
        if found is not None:
            return found
    return None


def _column(rows: list[list[str]], layout: Layout, name: str) -> list[str]:
    index = layout.columns.get(name)
    if index is None:
        return []
    return [row[index].strip() for row in rows if index < len(row) and row[index].strip()]


class Evidence:
    """Settles how files are read; remembers what each sibling file shows (by version)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._siblings: dict[tuple[str, int, int], DateOrder | None] = {}
        self._listing: tuple[str, int, list[str]] | None = None

    def settle(
        self,
        f: BinaryIO,
        path: Path,
        header: reader.Header,
        layout: Layout,
        checkpoint: Checkpoint | None,
        *,
        resume: bool,
        repair: bool = False,
    ) -> Reading:
        """How to read ``path``; what ``checkpoint`` settled counts only when ``resume``;
        the file's pins (``file_pins``; ``repair``: an explicit one) decide where the
        settings would."""
        pins = file_pins(self.settings, checkpoint, repair=repair)
        settings = pins.fallbacks(self.settings)
        size = os.fstat(f.fileno()).st_size
        previous = checkpoint or Checkpoint(path="", stat=FileStat(0, 0, 0, 0))
        settled_order = previous.date_order if resume else None
        settled_mark = previous.decimal_mark if resume else None
        rows: list[list[str]] | None = None
        order: DateOrder | None
        if settled_order in ("mdy", "dmy"):
            order = settled_order  # type: ignore[assignment]
            source = previous.date_order_source or "checkpoint"
        else:
            rows = _sample_rows(f, header, layout, size)
            order, source = self._date_order(f, path, header, layout, rows, size)
            if source in ("setting", UNSETTLED) and settings.date_order in ("mdy", "dmy"):
                order, source = settings.date_order, "setting"  # the file's pin, if any
            if source in ("setting", UNSETTLED) and (
                (previous.date_order_source, previous.date_order) != (source, order)
                or previous.lines_consumed <= 1  # no row was read: nothing said yet
            ):
                self._unsettled(path, order, rows)
        mark: DecimalMark | None
        if settled_mark in (".", ","):
            mark = settled_mark  # type: ignore[assignment]
        else:
            if rows is None:
                rows = _sample_rows(f, header, layout, size)
            mark = mark_from_values(_column(rows, layout, "price")) or mark_from_values(
                _column(rows, layout, "commission")
            )
            if mark is None and settings.decimal_mark != "auto":
                mark = settings.decimal_mark
        options = ParseOptions(
            decimal_mark=mark,
            action_aliases=settings.action_aliases,
            entry_exit_aliases=settings.entry_exit_aliases,
            commissions=CommissionSchedule(dict(settings.commissions)) or None,
        )
        return Reading(order, source, mark, options, pins)

    def _date_order(
        self,
        f: BinaryIO,
        path: Path,
        header: reader.Header,
        layout: Layout,
        rows: list[list[str]],
        size: int,
    ) -> tuple[DateOrder | None, str]:
        """The order and what settled it, or (None, UNSETTLED)."""
        times = _column(rows, layout, "time")
        found = date_order_from_times(times)
        if found is None and size - header.data_start > HEAD_SAMPLE + TAIL_SAMPLE:
            found = _scan_for_order(f, header, layout, size)
        if found is not None:
            return found, "content"
        producer = producer_of(path.name)
        if (found := date_order_from_name(path.name, times)) is not None:
            return found, "name"
        if (found := fixed_date_order(producer, times)) is not None:
            return found, "producer"
        if folder_evidence(producer) and (found := self._from_folder(path)) is not None:
            return found, "folder"
        if self.settings.date_order in ("mdy", "dmy"):
            return self.settings.date_order, "setting"
        return None, UNSETTLED

    @staticmethod
    def settled_since(prior: Checkpoint | None, reading: Reading) -> bool:
        """The file's order was open and is settled now (lines appended since show it)."""
        return (
            prior is not None
            and prior.date_order_source == UNSETTLED
            and reading.date_order is not None
        )

    @staticmethod
    def shows_folder(path: Path, reading: Reading) -> bool:
        """Does this file, read so, show the folder's order (its own content or name)?"""
        shown = reading.date_order_source in ("content", "name")
        return shown and folder_evidence(producer_of(path.name))

    def settles_waiting(self, prior: Checkpoint | None, path: Path) -> bool:
        """Rows of ``path`` wait for a date order that the folder now shows."""
        return (
            prior is not None
            and prior.date_order_source == UNSETTLED
            and self.folder_order(path) is not None
        )

    def folder_order(self, path: Path) -> DateOrder | None:
        """The order the folder's grid exports show for ``path``, if it takes folder
        evidence (the add-on's files do not)."""
        return self._from_folder(path) if folder_evidence(producer_of(path.name)) else None

    @staticmethod
    def _unsettled(path: Path, order: DateOrder | None, rows: list[list[str]]) -> None:
        """Logged once per file (the checkpoint remembers); nothing to say without rows."""
        if not rows:
            return
        if order is not None:
            detail = (
                "no date in the file, its name or its folder settles the order; the "
                "date_order setting decides (if it is wrong, re-read with --reread "
                "--replace --date-order mdy|dmy)"
            )
        else:
            detail = (
                "no date in the file, its name or its folder settles the order: rows "
                "whose date reads both ways are rejected as ambiguous_date and read "
                "again when another export of the folder or the date_order setting "
                "settles it"
            )
        log.warning("date_order_unsettled", file=path_key(path), date_order=order, detail=detail)

    def _from_folder(self, path: Path) -> DateOrder | None:
        """The order the other files of the folder show, when those that show one agree."""
        found: set[DateOrder] = set()
        for name in self._recent_siblings(path.parent):
            if name == path.name or not folder_evidence(producer_of(name)):
                continue  # the add-on writes month-first on any PC: it shows nothing
            try:
                st = os.stat(path.parent / name)
            except OSError:
                continue
            order = self._sibling_order(path.parent / name, st)
            if order is not None:
                found.add(order)
        return found.pop() if len(found) == 1 else None

    def _recent_siblings(self, folder: Path) -> list[str]:
        """The folder's candidate files, most recently modified first (one more than
        ``MAX_SIBLINGS``, for the file asking), listed again only when the folder changes.

        Listing and sorting a 10,000-file folder for every file it settles made a catch-up
        quadratic (a quarter of its time); an append does not change the folder, so the
        order of recency may be a little stale, which only bounds how many siblings count.
        """
        try:
            stamp = os.stat(folder).st_mtime_ns
            if self._listing is not None and self._listing[:2] == (str(folder), stamp):
                return self._listing[2]
            with os.scandir(folder) as it:
                candidates = [
                    (e.stat().st_mtime_ns, e.name)
                    for e in it
                    if is_candidate_name(e.name) and e.is_file()
                ]
        except OSError:
            return []
        recent = [name for _, name in heapq.nlargest(MAX_SIBLINGS + 1, candidates)]
        self._listing = (str(folder), stamp, recent)
        return recent

    def _sibling_order(self, path: Path, st: os.stat_result) -> DateOrder | None:
        key = (path_key(path), st.st_size, st.st_mtime_ns)
        if key in self._siblings:
            return self._siblings[key]
        order = None
        try:
            with reader.open_regular(path) as f:
                header = reader.read_header(f)
                if header is not None:
                    options = LayoutOptions(
                        header_aliases=self.settings.header_aliases, default_account="-"
                    )
                    layout = sniff_layout(header.text, options)
                    rows = _sample_rows(f, header, layout, min(st.st_size, SIBLING_SAMPLE))
                    times = _column(rows, layout, "time")
                    order = date_order_from_times(times) or date_order_from_name(path.name, times)
        except (OSError, UnknownFormatError, NotRegularFileError):
            order = None
        if len(self._siblings) > 4096:
            self._siblings.clear()
        self._siblings[key] = order
        return order
