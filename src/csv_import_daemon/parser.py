"""Turn NinjaTrader 8 Executions CSV lines into typed executions; pure, no I/O.

``sniff_layout`` maps the header by column name (users hide, reorder and rename grid
columns), ``split_lines`` splits lines into fields, and one ``RowParser`` per file turns each
row into an ``Execution`` or a ``RowError`` naming the column and value at fault.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal
from types import MappingProxyType
from typing import Any, TypeVar

from csv_import_daemon.errors import UnknownFormatError
from csv_import_daemon.fields import (
    EMPTY_MONEY,
    DateOrder,
    TimeReader,
    date_order_from_filename,
    date_order_from_times,
    parse_decimal,
    parse_quantity,
)

__all__ = [
    "DateOrder",
    "Execution",
    "Layout",
    "RowError",
    "RowParser",
    "date_order_from_filename",
    "date_order_from_times",
    "sniff_layout",
    "split_lines",
]

# Canonical column -> header names (casefolded), in order of preference. The ID-like
# "Account" wins over display names because that is what other tools key on.
_HEADER_NAMES: dict[str, tuple[str, ...]] = {
    "instrument": ("instrument",),
    "action": ("action",),
    "quantity": ("quantity",),
    "price": ("price",),
    "time": ("time",),
    "execution_id": ("id",),
    "entry_exit": ("e/x",),
    "position": ("position",),
    "order_id": ("order id",),
    "order_name": ("name",),
    "commission": ("commission",),
    "rate": ("rate",),
    "account": ("account", "account name", "account display name"),
    "connection": ("connection",),
    "trade_validation": ("tradevalidation", "trade validation"),
}
_REQUIRED = ("instrument", "action", "quantity", "price", "time", "account")
_OPTIONAL = (
    "execution_id",
    "entry_exit",
    "position",
    "order_id",
    "order_name",
    "commission",
    "connection",
)
_LABELS = {
    "instrument": "Instrument",
    "action": "Action",
    "quantity": "Quantity",
    "price": "Price",
    "time": "Time",
    "execution_id": "ID",
    "entry_exit": "E/X",
    "position": "Position",
    "order_id": "Order ID",
    "order_name": "Name",
    "commission": "Commission",
    "rate": "Rate",
    "account": "Account",
    "connection": "Connection",
    "trade_validation": "TradeValidation",
}
_EXPECTED = (
    "expected an Executions export with columns Instrument, Action, Quantity, Price, Time, "
    "ID, E/X, Position, Order ID, Name, Commission, Rate, Account, Connection "
    "(Account Performance > Display: Executions > Export)"
)
# Trade Performance "Trades" grid headers, English and French, accents and punctuation removed.
_TRADES_HEADERS = frozenset(
    {
        "tradenumber",
        "ndetrade",
        "nodetrade",
        "numerodetrade",
        "marketpos",
        "posmarche",
        "qty",
        "qte",
        "entryprice",
        "exitprice",
        "prixdentree",
        "prixdesortie",
        "entrytime",
        "exittime",
        "heuredentree",
        "heuredesortie",
        "strategy",
        "strategie",
        "entryname",
        "exitname",
        "cumnetprofit",
        "mae",
        "mfe",
        "etd",
        "bars",
    }
)
_ENTRY_EXIT: dict[str, str | None] = {
    "": None,
    "E": "Entry",
    "e": "Entry",
    "X": "Exit",
    "x": "Exit",
    "Entry": "Entry",
    "Exit": "Exit",
}
# Cache-miss marker, compared by identity.
_UNKNOWN = Decimal("NaN")
_new = object.__new__
_CACHE_LIMIT = 65536
_V = TypeVar("_V")


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each column sits in one file, and how its numbers are written."""

    delimiter: str
    decimal_comma: bool
    field_count: int
    columns: Mapping[str, int]
    has_id: bool
    # Fields up to the last named column: a value past it (under the header's trailing
    # comma, or beyond) means a comma inside an unquoted value shifted the row.
    named_count: int


@dataclass(frozen=True, slots=True)
class Execution:
    """One fill, with its time in UTC (naive) and exact decimals."""

    execution_id: str
    account: str
    instrument: str
    action: str
    entry_exit: str | None
    quantity: int
    price: Decimal
    executed_at: datetime
    commission: Decimal | None
    order_id: str | None
    order_name: str | None
    connection: str | None
    position_after: str | None
    line: int


@dataclass(frozen=True, slots=True)
class RowError:
    """A rejected row: ``reason`` is a short code, ``detail`` names the column and value."""

    line: int
    raw: str
    reason: str
    detail: str


# Mutable twin of Execution with the same slots, for RowParser.parse's fast construction.
_ExecutionDraft: Any = dataclasses.make_dataclass(
    "_ExecutionDraft", [(f.name, f.type) for f in dataclasses.fields(Execution)], slots=True
)


def _show(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:80] + "...")


def _header_key(name: str) -> str:
    """'Prix d'entrée' -> 'prixdentree', for loose matching of Trades grid headers."""
    plain = unicodedata.normalize("NFKD", name).casefold()
    return "".join(c for c in plain if c.isalnum() and not unicodedata.combining(c))


def _split_header(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:  # stray CR, huge field: the names still tell what the file is
        return line.split(delimiter)


def sniff_layout(header_line: str) -> Layout:
    """Map an Executions header line to a ``Layout``; refuse anything else, saying what it is.

    Raises UnknownFormatError for the Trade Performance "Trades" grid and for any header
    lacking Instrument, Action, Quantity, Price, Time or an Account column.
    """
    line = header_line.lstrip("\ufeff").rstrip("\r\n")
    delimiter = ";" if line.count(";") > line.count(",") else ","
    names = _split_header(line, delimiter)
    folded = [name.strip().casefold() for name in names]
    columns: dict[str, int] = {}
    for canonical, aliases in _HEADER_NAMES.items():
        for alias in aliases:
            if alias in folded:
                columns[canonical] = folded.index(alias)
                break
    missing = [_LABELS[c] for c in _REQUIRED if c not in columns]
    if missing:
        if len({_header_key(n) for n in names} & _TRADES_HEADERS) >= 3:
            raise UnknownFormatError(
                "looks like a NinjaTrader Trade Performance 'Trades' export (round trips, "
                f"not executions); {_EXPECTED}"
            )
        shown = ", ".join(_show(n.strip()[:30]) for n in names[:6]) if line.strip() else ""
        more = f", ... ({len(names)} columns)" if len(names) > 6 else ""
        what = f"header has {shown}{more}" if shown else "header line is empty"
        if len(columns) >= 3:
            what += f" but no {', '.join(missing)} column"
        raise UnknownFormatError(
            f"does not look like a NinjaTrader Executions export: {what}; {_EXPECTED}"
        )
    return Layout(
        delimiter=delimiter,
        decimal_comma=delimiter == ";",
        field_count=len(names),
        columns=MappingProxyType(columns),
        has_id="execution_id" in columns,
        named_count=max((i + 1 for i, name in enumerate(names) if name.strip()), default=0),
    )


class _OneLine:
    """Feeds csv.reader exactly one line at a time, so an unclosed quote cannot swallow
    the following lines (each input line must give one row)."""

    __slots__ = ("line",)

    def __init__(self) -> None:
        self.line: str | None = None

    def __iter__(self) -> _OneLine:
        return self

    def __next__(self) -> str:
        line = self.line
        if line is None:
            raise StopIteration
        self.line = None
        return line


def split_lines(lines: list[str], layout: Layout) -> Iterator[list[str]]:
    """Split each line (no terminator) into fields, one list per line, as csv.reader does."""
    delimiter = layout.delimiter
    feed = _OneLine()
    reader = csv.reader(feed, delimiter=delimiter)
    for line in lines:
        if '"' not in line:
            # Without quotes csv.reader gives exactly str.split's fields at a third of the
            # cost (it would raise on a bare CR or LF, where we keep the split anyway).
            yield line.split(delimiter) if line else []
            continue
        feed.line = line
        try:
            row = next(reader, None)
        except csv.Error:  # e.g. a bare CR outside quotes
            row = None
        yield line.split(delimiter) if row is None else row


class RowParser:
    """Parses the rows of one file, read from its first data line, in order.

    Files without an ID column get stand-in IDs that count identical earlier rows, so
    the parser must see every row of the file, once, in file order.
    """

    def __init__(self, layout: Layout, date_order: DateOrder, tz: tzinfo) -> None:
        self.layout = layout
        cols = layout.columns
        required = [cols[c] for c in _REQUIRED] + ([cols["execution_id"]] if layout.has_id else [])
        # Absent optional columns read a padding field past any real one, so the hot path
        # needs no per-column "is it there" test.
        absent = layout.field_count + 2
        width = layout.field_count if all(c in cols for c in _OPTIONAL) else absent + 1
        self._plan = (
            max(required) + 1,
            layout.field_count + 2,
            width,
            layout.has_id,
            *(cols.get(c, absent) for c in _REQUIRED + _OPTIONAL),
            layout.named_count,
        )
        self._field_count = layout.field_count
        self._decimal_comma = layout.decimal_comma
        self._names = {index: _LABELS[c] for c, index in cols.items()}
        self._date_order: DateOrder = date_order
        self._times = TimeReader(date_order, tz)
        self._clocks = self._times.clocks
        self._last_date = ""
        self._last_hours: tuple[datetime, ...] = ()
        # Quantities, prices and commissions repeat a lot within a file.
        self._quantities: dict[str, int] = {}
        self._prices: dict[str, Decimal] = {}
        self._money: dict[str, Decimal | None] = dict.fromkeys(EMPTY_MONEY)
        self._occurrences: dict[str, int] = {}

    def parse(  # noqa: PLR0911, PLR0912, PLR0915 - per-row hot loop, flat on purpose
        self, fields: list[str], line_no: int, raw: str
    ) -> Execution | RowError:
        """One row's fields (from ``split_lines``) -> Execution, or RowError saying why not.

        ``raw`` is the line as read; it is checked for NUL characters and kept in errors.
        """
        (
            min_fields,
            max_fields,
            width,
            has_id,
            i_instrument,
            i_action,
            i_quantity,
            i_price,
            i_time,
            i_account,
            i_id,
            i_entry_exit,
            i_position,
            i_order_id,
            i_order_name,
            i_commission,
            i_connection,
            named,
        ) = self._plan
        count = len(fields)
        if count < min_fields or count > max_fields:
            if not "".join(fields).strip():
                return RowError(line_no, raw, "blank", "the line is empty")
            return RowError(
                line_no, raw, "field_count", f"expected {self._field_count} fields, got {count}"
            )
        if count > named and (fields[-1] or count > named + 1) and "".join(fields[named:]).strip():
            # Empty trailing fields are fine; a value past the named columns means a comma
            # inside an unquoted value shifted every column after it.
            return RowError(
                line_no,
                raw,
                "field_count",
                f"expected {self._field_count} fields, got {count}: a value past "
                "the last column (a comma inside an unquoted value?)",
            )
        if count < width:
            fields = fields + [""] * (width - count)
        if "\x00" in raw:
            return self._nul_error(fields, line_no, raw)

        instrument = fields[i_instrument].strip()
        account = fields[i_account].strip()
        action = fields[i_action].strip()
        execution_id = fields[i_id].strip()
        if not (instrument and account and action and (execution_id or not has_id)):
            return self._missing(fields, line_no, raw, (instrument, account, action))

        # The caches are keyed by the unstripped text: a hit needs no strip at all.
        text = fields[i_quantity]
        try:
            quantity = self._quantities[text]
        except KeyError:
            parsed_quantity = parse_quantity(text.strip(), self._decimal_comma)
            if parsed_quantity is None:
                return RowError(
                    line_no,
                    raw,
                    "bad_quantity",
                    f"Quantity {_show(text.strip())} is not a positive whole number",
                )
            quantity = self._remember(self._quantities, text, parsed_quantity)

        text = fields[i_price]
        try:
            price = self._prices[text]
        except KeyError:
            parsed_price = parse_decimal(text.strip(), self._decimal_comma)
            if parsed_price is None or parsed_price <= 0:
                return RowError(
                    line_no,
                    raw,
                    "bad_price",
                    f"Price {_show(text.strip())} is not a positive decimal number",
                )
            price = self._remember(self._prices, text, parsed_price)

        # Time, fast path inlined: both halves of "1/28/2025 10:59:52 AM" come from caches.
        text = fields[i_time]
        date_text, _, clock = text.partition(" ")
        when = self._clocks.get(clock) or self._times.clock(clock)
        if date_text != self._last_date:  # rows come in runs of one date
            self._last_hours = self._times.day(date_text)
            self._last_date = date_text
        hours = self._last_hours
        executed_at = hours[when[0]] + when[1] if when and hours else self._times.parse(text)
        if executed_at is None:
            order = "month-first" if self._date_order == "mdy" else "day-first"
            return RowError(
                line_no,
                raw,
                "bad_time",
                f"Time {_show(text.strip())} is not a valid {order} date and time",
            )

        text = fields[i_commission]
        try:
            commission = self._money[text]
        except KeyError:
            commission = self._money.get(text.strip(), _UNKNOWN)
            if commission is _UNKNOWN:
                commission = parse_decimal(text.strip(), self._decimal_comma, money=True)
                if commission is None:
                    return RowError(
                        line_no,
                        raw,
                        "bad_commission",
                        f"Commission {_show(text.strip())} is not a money amount",
                    )
            self._remember(self._money, text, commission)

        text = fields[i_entry_exit]
        try:
            entry_exit = _ENTRY_EXIT[text]
        except KeyError:
            entry_exit = _ENTRY_EXIT.get(text.strip(), text.strip())
        order_id = fields[i_order_id].strip() or None
        order_name = fields[i_order_name].strip() or None
        connection = fields[i_connection].strip() or None
        position = fields[i_position].strip() or None
        if not execution_id:
            execution_id = self._stand_in_id(
                (
                    account,
                    instrument,
                    action,
                    entry_exit or "",
                    str(quantity),
                    format(price.normalize(), "f"),
                    executed_at.isoformat(),
                    order_id or "",
                    order_name or "",
                )
            )
        # A frozen dataclass's __init__ costs ~2 us for 14 fields (an object.__setattr__
        # each), half the per-row budget: fill the mutable twin with the same slots, then
        # relabel it, which CPython allows for identical slot layouts.
        draft = _new(_ExecutionDraft)
        draft.execution_id = execution_id
        draft.account = account
        draft.instrument = instrument
        draft.action = action
        draft.entry_exit = entry_exit
        draft.quantity = quantity
        draft.price = price
        draft.executed_at = executed_at
        draft.commission = commission
        draft.order_id = order_id
        draft.order_name = order_name
        draft.connection = connection
        draft.position_after = position
        draft.line = line_no
        draft.__class__ = Execution
        execution: Execution = draft
        return execution

    @staticmethod
    def _remember(cache: dict[str, _V], key: str, value: _V) -> _V:
        if len(cache) < _CACHE_LIMIT:  # keep the first values: a file's values repeat early
            cache[key] = value
        return value

    def _stand_in_id(self, parts: tuple[str, ...]) -> str:
        """Content hash plus the count of identical earlier rows in this file."""
        key = "\x1f".join(parts)  # unit separator: names may contain "|"
        seen = self._occurrences.get(key, 0)
        self._occurrences[key] = seen + 1
        digest = hashlib.sha256(f"{key}\x1f{seen}".encode()).hexdigest()
        return "nt-" + digest[:32]

    @staticmethod
    def _missing(fields: list[str], line_no: int, raw: str, values: tuple[str, ...]) -> RowError:
        if not "".join(fields).strip():
            return RowError(line_no, raw, "blank", "the line is empty")
        labels = ("Instrument", "Account", "Action")
        empty = next(
            (label for label, value in zip(labels, values, strict=True) if not value), "ID"
        )
        return RowError(line_no, raw, "missing_value", f"{empty} is empty")

    def _nul_error(self, fields: list[str], line_no: int, raw: str) -> RowError:
        index = next((i for i, field in enumerate(fields) if "\x00" in field), None)
        where = "the line" if index is None else self._names.get(index, f"field {index + 1}")
        return RowError(line_no, raw, "bad_text", f"{where} contains a NUL character")
