"""Details of rejections that must say how to fix the file: mangled IDs, shifted rows."""

from __future__ import annotations

import re
from collections.abc import Mapping

from csv_import_daemon.parsing.decimal_mark import read_number
from csv_import_daemon.parsing.execution import RowError, show
from csv_import_daemon.parsing.fields import (
    DateOrder,
    is_compact,
    parse_local_time,
    reads_both_ways,
)
from csv_import_daemon.parsing.layout import LABELS, Layout

# A number cut in two by an unquoted decimal comma: "21000" then "25" (or "62 $").
_SHIFT_HEAD = re.compile(r"[-(]?\W{0,3}\s?[0-9]+")
_SHIFT_TAIL = re.compile(r"[0-9]+\s?\W{0,3}\)?")
# A number cut in two by an unquoted thousands separator: "20" then "015.00".
_THOUSANDS_HEAD = re.compile(r"[-(]?\W{0,3}\s?[0-9]{1,3}")
_THOUSANDS_TAIL = re.compile(r"[0-9]{3}(?:\.[0-9]+)?\s?\W{0,3}\)?")


def mangled_id(execution_id: str, line_no: int, raw: str) -> RowError:
    return RowError(
        line_no,
        raw,
        "mangled_id",
        f"ID {show(execution_id)} is in scientific notation: a spreadsheet re-saved "
        "the file and rounded the ID, so it no longer identifies one execution; export "
        "the file from NinjaTrader again (do not save it from Excel)",
    )


def shift_hint(layout: Layout, fields: list[str]) -> str:
    """Say so when a number looks cut in two by an unquoted comma: a thousands separator
    ('20,015.00') or a decimal comma ('21000,25'), naming the column it belongs to."""
    if layout.delimiter != ",":
        return ""
    for column in ("price", "commission", "quantity"):
        index = layout.columns.get(column)
        if index is None or index + 1 >= len(fields):
            continue
        head, tail = fields[index].strip(), fields[index + 1].strip()
        if _THOUSANDS_HEAD.fullmatch(head) and _THOUSANDS_TAIL.fullmatch(tail):
            return (
                f": {LABELS[column]} {show(head + ',' + tail)} looks like a number with a "
                "',' thousands separator written without quotes in a ',' file, which "
                "shifts every later column; export it without thousands separators (or "
                "with quoted values) and import that file"
            )
        if _SHIFT_HEAD.fullmatch(head) and _SHIFT_TAIL.fullmatch(tail):
            return (
                f": {LABELS[column]} {show(head + ',' + tail)} looks like a number "
                "with a decimal comma written without quotes in a ',' file, which "
                "shifts every later column; export with ';' as the delimiter (or "
                "with quoted values) and import that file"
            )
    return ""


def ambiguous_decimal(label: str, text: str, line_no: int, raw: str) -> RowError:
    point = read_number(text, ".", money=True)
    comma = read_number(text, ",", money=True)
    return RowError(
        line_no,
        raw,
        "ambiguous_decimal",
        f"{label} {show(text)} reads as {point} with a decimal point or {comma} with a "
        "decimal comma, and no value before it in the file shows which mark the file "
        "uses; set decimal_mark to '.' or ',' (--decimal-mark)",
    )


def unknown_currency(text: str, marker: str, line_no: int, raw: str) -> RowError:
    # Its amount would be counted in another currency's P&L: never guessed.
    return RowError(
        line_no,
        raw,
        "unknown_currency",
        f"Commission {show(text)}: {show(marker)} names no one currency; the commission's "
        "currency must be $, €, £ or a 3-letter code such as SEK (the Windows currency "
        "format of the PC that wrote the file decides it)",
    )


def bad_time(text: str, order: DateOrder | None, line_no: int, raw: str) -> RowError:
    """A time no reading accepts; ``ambiguous_date`` when the file's date order decides it
    (its date reads two ways while the order is open, or a compact ddMMyyyy date outside a
    day-first file): the date_order setting then reads it, so it is named."""
    date_text = text.replace("T", " ", 1).partition(" ")[0]
    if is_compact(date_text) and order != "dmy" and parse_local_time(text, "dmy") is not None:
        return RowError(
            line_no,
            raw,
            "ambiguous_date",
            f"Time {show(text)} has a compact ddMMyyyy date, read only in a file whose "
            "date order is settled day-first; if the file is day-first, set date_order to "
            "'dmy' (--date-order dmy)",
        )
    mdy, dmy = parse_local_time(text, "mdy"), parse_local_time(text, "dmy")
    if order is None and mdy is not None and dmy is not None and reads_both_ways(text):
        return RowError(
            line_no,
            raw,
            "ambiguous_date",
            f"Time {show(text)} reads as {mdy:%Y-%m-%d} month-first or {dmy:%Y-%m-%d} "
            "day-first, and nothing in the file, its name or the other exports of its "
            "folder shows which order it uses; set date_order to 'mdy' or 'dmy' "
            "(--date-order); the row is read again then, or when another export of the "
            "folder settles it",
        )
    named = {"mdy": "month-first", "dmy": "day-first", None: "month-first or day-first"}
    return RowError(
        line_no, raw, "bad_time", f"Time {show(text)} is not a valid {named[order]} date and time"
    )


def missing_value(fields: list[str], line_no: int, raw: str, values: tuple[str, ...]) -> RowError:
    """A blank line, or the first of Instrument, Account, Action (else ID) that is empty."""
    if not "".join(fields).strip():
        return RowError(line_no, raw, "blank", "the line is empty")
    labels = ("Instrument", "Account", "Action")
    empty = next((label for label, value in zip(labels, values, strict=True) if not value), "ID")
    return RowError(line_no, raw, "missing_value", f"{empty} is empty")


def unknown_action(action: str, line_no: int, raw: str) -> RowError:
    return RowError(
        line_no,
        raw,
        "unknown_action",
        f"Action {show(action)} is not Buy, Sell, BuyToCover or SellShort; a localized "
        "export maps its words with the action_aliases setting",
    )


# E/X words as NinjaTrader writes them (some add-on versions: E/X), in any case.
ENTRY_EXIT_WORDS: dict[str, str | None] = {"": None, "e": "Entry", "x": "Exit"}
ENTRY_EXIT_WORDS.update({"entry": "Entry", "exit": "Exit"})
UNKNOWN = "\x00unknown"  # a word that is neither: never stored as written


def entry_exit_of(word: str, aliases: Mapping[str, str]) -> str | None:
    """Entry, Exit or None (blank) for a stripped E/X ``word``; ``UNKNOWN`` otherwise."""
    folded = word.casefold()
    if folded in aliases:
        return aliases[folded]
    return ENTRY_EXIT_WORDS.get(folded, UNKNOWN)


def entry_exit_word(
    cache: dict[str, str | None], aliases: Mapping[str, str], text: str
) -> str | None:
    """``entry_exit_of`` an E/X cell as written, remembered in ``cache`` (a file's few)."""
    word = text.strip()
    value = cache[word] if word in cache else entry_exit_of(word, aliases)
    if len(cache) < 65536:
        cache[text] = value
    return value


def unknown_entry_exit(word: str, line_no: int, raw: str) -> RowError:
    return RowError(
        line_no,
        raw,
        "unknown_entry_exit",
        f"E/X {show(word)} is not Entry or Exit; a localized export maps its words with "
        "the entry_exit_aliases setting",
    )


def nul_error(names: Mapping[int, str], fields: list[str], line_no: int, raw: str) -> RowError:
    """A NUL character, named by the column (``names``: field index -> header) it is in."""
    index = next((i for i, field in enumerate(fields) if "\x00" in field), None)
    where = "the line" if index is None else names.get(index, f"field {index + 1}")
    return RowError(line_no, raw, "bad_text", f"{where} contains a NUL character")
