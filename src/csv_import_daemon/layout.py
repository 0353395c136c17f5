"""Which column is where: an Executions header mapped by name, and lines split into fields.

``sniff_layout`` maps the header by column name (users hide, reorder and rename grid
columns) and refuses anything that is not an Executions export, saying what it looks like;
``split_lines`` splits lines into fields as ``csv.reader`` would, one row per line. Pure,
no I/O.
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from csv_import_daemon.errors import UnknownFormatError

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
REQUIRED = ("instrument", "action", "quantity", "price", "time", "account")
OPTIONAL = (
    "execution_id",
    "entry_exit",
    "position",
    "order_id",
    "order_name",
    "commission",
    "connection",
)
LABELS = {
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


def show_value(value: str) -> str:
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
    missing = [LABELS[c] for c in REQUIRED if c not in columns]
    if missing:
        if len({_header_key(n) for n in names} & _TRADES_HEADERS) >= 3:
            raise UnknownFormatError(
                "looks like a NinjaTrader Trade Performance 'Trades' export (round trips, "
                f"not executions); {_EXPECTED}"
            )
        shown = ", ".join(show_value(n.strip()[:30]) for n in names[:6]) if line.strip() else ""
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
