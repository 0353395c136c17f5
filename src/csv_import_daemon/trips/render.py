"""Report cells: exact decimals, ISO times, CSV safe for spreadsheets, aligned tables."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, getcontext
from typing import Any

# A spreadsheet may split a line on ",", ";" (de-DE, fr-FR) or TAB whatever we meant: a
# part of a text cell that starts (after blanks or quotes) with one of these is a formula.
_LIVE_PART = re.compile(r"(^|[,;\t])([ \"']*)(?=[=+\-@\t\r])")


def decimal_text(value: Decimal) -> str:
    """Canonical text of an exact decimal: no exponent, no trailing zeros."""
    if value == 0:
        return "0"
    text = str(value)
    # Most amounts are plain digits already ("18926.00"): without their trailing zeros they
    # are what normalize and "f" give, in a third of the time (a listing shows thousands).
    # normalize rounds to the context's digits: longer ones take that path, as before.
    if len(text) <= _PLAIN_DIGITS and "E" not in text:
        return text.rstrip("0").rstrip(".") if "." in text else text
    return format(value.normalize(), "f")


_PLAIN_DIGITS = getcontext().prec  # 28


def time_text(value: datetime | None) -> str | None:
    """ISO 8601: a naive time is UTC as stored (``...Z``), an aware one keeps its offset."""
    if value is None:
        return None
    text = value.isoformat(timespec="seconds")  # the fraction dropped, as stored to the second
    return text if value.tzinfo is not None else text + "Z"


def in_zone(value: datetime | None, zone: tzinfo) -> datetime | None:
    """A stored (naive UTC) time in the display zone."""
    return None if value is None else value.replace(tzinfo=UTC).astimezone(zone)


def localized(row: dict[str, Any], zone: tzinfo, *, executions: bool = True) -> dict[str, Any]:
    """The row with every stored time shown in ``zone`` (executions too, unless
    ``executions`` is false: the table and CSV show none of theirs, and converting them
    was a fifth of a ``round-trips`` listing)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, datetime):
            out[key] = in_zone(value, zone)
        elif executions and isinstance(value, list):
            out[key] = [localized(v, zone) if isinstance(v, dict) else v for v in value]
        else:
            out[key] = value
    return out


def with_local_times(row: dict[str, Any], zone: tzinfo) -> dict[str, Any]:
    """The row with ``<time>_local`` in ``zone`` beside each UTC time (executions too)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, list):
            out[key] = [with_local_times(v, zone) if isinstance(v, dict) else v for v in value]
            continue
        out[key] = value
        if isinstance(value, datetime) or (value is None and key.endswith("_at")):
            out[key + "_local"] = in_zone(value, zone)
    return out


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """Decimals as strings, times as ISO 8601 (UTC ``...Z`` as stored), days as ISO dates."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, Decimal):
            out[key] = decimal_text(value)
        elif isinstance(value, datetime):
            out[key] = time_text(value)
        elif isinstance(value, date):
            out[key] = value.isoformat()
        elif isinstance(value, list):
            out[key] = [jsonable(v) if isinstance(v, dict) else v for v in value]
        else:
            out[key] = value
    return out


def safe_cell(value: Any) -> Any:
    """A spreadsheet cell: numbers stay numbers, formula-like text is made inert however
    the line is split (``,``, ``;`` or TAB)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | Decimal):
        return decimal_text(Decimal(value))
    if isinstance(value, datetime):
        return time_text(value)
    # A "'" before each part that would start a formula, under any of the separators.
    return _LIVE_PART.sub(r"\1\2'", str(value))


def display(value: Any) -> str:
    """A terminal cell: exact decimals, ISO times, empty for null."""
    if type(value) is str:  # most cells of a table arrive as text already
        return value
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, datetime):
        return str(time_text(value))
    return str(value)


def csv_text(header: Sequence[str] | None, rows: Iterable[Sequence[Any]]) -> str:
    """Rows as CSV text, every cell safe to open; no header line when ``header`` is None."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header is not None:
        writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()


def table_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain aligned table for a terminal."""
    return aligned(header, [list(map(display, row)) for row in rows])


def aligned(header: Sequence[str], texts: list[list[str]]) -> str:
    """``table_text`` of cells already shown as text."""
    cells = [[str(h) for h in header], *texts]
    # Column by column in C (map, zip): a listing of thousands of round trips is 20 cells
    # a row, and a generator step per cell cost a tenth of the command.
    widths = [max(map(len, column)) for column in zip(*cells, strict=True)]
    lines = ["  ".join(map(str.ljust, r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)
