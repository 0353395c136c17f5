"""Which column holds what: map an Executions header by name, with the user's aliases.

Users hide, reorder and rename grid columns, and localized exports translate the headers,
so columns are found by name (``header_aliases`` adds names), never by position. Columns
the importer stores nowhere are listed in ``Layout.extra`` so that no value is dropped.
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from csv_import_daemon.errors import UnknownFormatError
from csv_import_daemon.parsing.execution import show

# The field names a user may map a header to (header_aliases), as the README lists them,
# and the parser's column name for each.
ALIAS_FIELDS: dict[str, str] = {
    "account": "account",
    "instrument": "instrument",
    "action": "action",
    "quantity": "quantity",
    "price": "price",
    "time": "time",
    "execution_id": "execution_id",
    "entry_exit": "entry_exit",
    "position": "position",
    "order_id": "order_id",
    "name": "order_name",
    "commission": "commission",
    "rate": "rate",
    "connection": "connection",
}

# Column -> header names (casefolded), in order of preference. The ID-like "Account" wins
# over display names because that is what other tools key on.
HEADER_NAMES: dict[str, tuple[str, ...]] = {
    "instrument": ("instrument",),
    "action": ("action",),
    "quantity": ("quantity",),
    "price": ("price",),
    "time": ("time",),
    "execution_id": ("id",),
    "entry_exit": ("e/x", "ex.", "ex", "e/x.", "e-x", "entry/exit", "entry exit", "e/x type"),
    "position": ("position",),
    "order_id": ("order id",),
    "order_name": ("name",),
    "commission": ("commission",),
    "rate": ("rate",),
    "account": ("account", "account name", "account display name"),
    "connection": ("connection",),
}
REQUIRED = ("instrument", "action", "quantity", "price", "time", "account")
# Read when the file has them, in the order a parse plan lists them after REQUIRED.
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
# Other NinjaTrader grids (and R|Trader's order history) users drop in the folder by
# mistake, by columns of their own (header keys as _header_key makes them): none holds
# executions, and no alias may turn one into fills. (name, what it holds, columns, how many)
_OTHER_GRIDS = (
    (
        "Trade Performance 'Trades'",
        "round trips",
        _TRADES_HEADERS,
        3,
    ),
    (
        "Orders",
        "orders",
        frozenset(
            {"type", "limit", "stop", "state", "filled", "avgprice", "remaining", "oco", "tif"}
        ),
        3,
    ),
    (
        "Accounts",
        "account balances",
        frozenset(
            {
                "cashvalue",
                "buyingpower",
                "netliquidation",
                "realizedpnl",
                "unrealizedpnl",
                "grossrealizedpnl",
                "totalcashbalance",
                "excessintradaymargin",
                "initialmargin",
                "maintenancemargin",
            }
        ),
        2,
    ),
    (
        "Positions",
        "open positions",
        frozenset(
            {
                "avgprice",
                "averageprice",
                "unrealized",
                "unrealizedpl",
                "unrealizedpnl",
                "marketpos",
                "marketposition",
            }
        ),
        2,
    ),
    (
        "Strategies",
        "strategies",
        frozenset({"strategy", "dataseries", "parameters", "accountposition", "sync", "enabled"}),
        3,
    ),
    (
        "Rithmic R|Trader order history",
        "orders",
        frozenset(
            {
                "buysell",
                "qtytofill",
                "qtyfilled",
                "avgfillprice",
                "ordernumber",
                "limitprice",
                "stopprice",
                "updatetime",
            }
        ),
        3,
    ),
)
_DELIMITERS = {",": "','", ";": "';'", "\t": "TAB"}


@dataclass(frozen=True, slots=True)
class LayoutOptions:
    """What the settings add to header sniffing: header aliases and a default account."""

    # header as written (casefolded, trimmed) -> field name of ALIAS_FIELDS
    header_aliases: Mapping[str, str] = field(default_factory=dict)
    default_account: str | None = None


NO_OPTIONS = LayoutOptions()


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each column sits in one file."""

    delimiter: str
    # What the delimiter suggests (";" files are usually decimal-comma); the values decide.
    decimal_comma: bool
    field_count: int
    columns: Mapping[str, int]
    has_id: bool
    # Fields up to the last named column: a value past it (under the header's trailing
    # comma, or beyond) means a comma inside an unquoted value shifted the row.
    named_count: int
    # Columns stored nowhere else, kept in trades.extra: (index, header as written).
    extra: tuple[tuple[int, str], ...] = ()
    # The account of every row when the file has no account column (default_account).
    default_account: str | None = None


def _header_key(name: str) -> str:
    """'Prix d'entrée' -> 'prixdentree', for loose matching of Trades grid headers."""
    plain = unicodedata.normalize("NFKD", name).casefold()
    return "".join(c for c in plain if c.isalnum() and not unicodedata.combining(c))


def _split_header(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:  # stray CR, huge field: the names still tell what the file is
        return line.split(delimiter)


def _find_columns(folded: list[str], options: LayoutOptions) -> dict[str, int]:
    columns: dict[str, int] = {}
    # The user's aliases come first: they name what this PC's export really holds.
    for index, name in enumerate(folded):
        target = options.header_aliases.get(name)
        if target is not None and ALIAS_FIELDS[target] not in columns:
            columns[ALIAS_FIELDS[target]] = index
    taken = set(columns.values())
    for canonical, aliases in HEADER_NAMES.items():
        if canonical in columns:
            continue
        for alias in aliases:
            if alias in folded and folded.index(alias) not in taken:
                columns[canonical] = folded.index(alias)
                taken.add(columns[canonical])
                break
    return columns


def sniff_layout(header_line: str, options: LayoutOptions = NO_OPTIONS) -> Layout:
    """Map an Executions header line to a ``Layout``; refuse anything else, saying what it is.

    Raises UnknownFormatError for the Trade Performance "Trades" grid and for any header
    lacking Instrument, Action, Quantity, Price or Time, or an Account column when no
    ``default_account`` is set.
    """
    line = header_line.lstrip("\ufeff").rstrip("\r\n")
    delimiter = max(_DELIMITERS, key=line.count)  # ',' when none is more frequent
    names = _split_header(line, delimiter)
    _refuse_other_grid(names)
    folded = [name.strip().casefold() for name in names]
    columns = _find_columns(folded, options)
    lacking = [c for c in REQUIRED if c not in columns]
    if lacking == ["account"] and options.default_account:
        lacking = []
    if lacking:
        _refuse(line, names, columns, lacking, delimiter)
    mapped = {i for c, i in columns.items() if c != "rate"}
    extra = tuple(
        (i, name.strip()) for i, name in enumerate(names) if name.strip() and i not in mapped
    )
    return Layout(
        delimiter=delimiter,
        decimal_comma=delimiter == ";",
        field_count=len(names),
        columns=MappingProxyType(columns),
        has_id="execution_id" in columns,
        named_count=max((i + 1 for i, name in enumerate(names) if name.strip()), default=0),
        extra=extra,
        default_account=None if "account" in columns else options.default_account,
    )


def _refuse_other_grid(names: list[str]) -> None:
    """Another grid is refused by its name, before any alias is applied."""
    keys = {_header_key(n) for n in names}
    for grid, holds, columns, enough in _OTHER_GRIDS:
        if len(keys & columns) >= enough:
            raise UnknownFormatError(
                f"looks like a NinjaTrader {grid} export ({holds}, not executions); it "
                f"holds no fills and is not imported; {_EXPECTED}"
            )


def _refuse(
    line: str, names: list[str], columns: dict[str, int], lacking: list[str], delimiter: str
) -> None:
    if not line.strip():
        raise UnknownFormatError(
            f"does not look like a NinjaTrader Executions export: header line is empty; {_EXPECTED}"
        )
    shown = ", ".join(show(n.strip()[:30]) for n in names[:8])
    more = f", ... ({len(names)} columns)" if len(names) > 8 else ""
    more += f", separated by {_DELIMITERS[delimiter]}" if delimiter == "\t" else ""
    if len(columns) >= 3 and lacking == ["account"]:
        raise UnknownFormatError(
            f"has no Account column (columns found: {shown}{more}); set default_account "
            "(--default-account) to import every row under that account, or map the "
            "account column's header in header_aliases"
        )
    wanted = ", ".join(LABELS[c] for c in lacking)
    raise UnknownFormatError(
        f"does not look like a NinjaTrader Executions export: columns found: {shown}{more}; "
        f"fields lacking: {wanted}; a localized or renamed header can be mapped in "
        f"header_aliases (header -> field); {_EXPECTED}"
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
