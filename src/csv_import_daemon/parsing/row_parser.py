"""Turn NinjaTrader 8 Executions CSV lines into typed executions; pure, no I/O.

``sniff_layout`` (in ``layout``) maps the header by column name, ``split_lines`` splits
lines into fields, and one ``RowParser`` per file turns each row into an ``Execution`` or a
``RowError`` naming the column and value at fault.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import TypeVar

from csv_import_daemon.config.commissions import FILE, CommissionSchedule
from csv_import_daemon.config.sides import ACTIONS, side_of
from csv_import_daemon.parsing import rejections
from csv_import_daemon.parsing.currency import money_currency
from csv_import_daemon.parsing.decimal_mark import (
    AMBIGUOUS,
    Ambiguous,
    DecimalMark,
    mark_shown,
    read_number,
)
from csv_import_daemon.parsing.execution import (
    Execution,
    RowError,
    _ExecutionDraft,
    extra_json,
    show,
)
from csv_import_daemon.parsing.fields import (
    EMPTY_MONEY,
    DateOrder,
    TimeReader,
    date_order_from_times,
    parse_quantity,
    wall_date,
)
from csv_import_daemon.parsing.layout import (
    LABELS,
    OPTIONAL,
    REQUIRED,
    Layout,
    LayoutOptions,
    sniff_layout,
    split_lines,
)
from csv_import_daemon.parsing.stand_ins import StandIns, clock_minute

__all__ = [
    "DateOrder",
    "Execution",
    "Layout",
    "LayoutOptions",
    "ParseOptions",
    "RowError",
    "RowParser",
    "date_order_from_times",
    "sniff_layout",
    "split_lines",
]

# Excel writes long numbers as "1.58013E+11": such an ID identifies nothing any more.
_SCIENTIFIC = re.compile(r"[0-9]+(?:[.,][0-9]+)?[eE][+-][0-9]{1,3}")
_new = object.__new__
_UNKNOWN_EX = rejections.UNKNOWN
_CACHE_LIMIT = 65536
_V = TypeVar("_V")
# A file without IDs: the row's stand-in is made once the row is read (its meaning).
_STAND_IN_DUE = "\x00stand-in"


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """How one file's values are read, beyond its layout, date order and zone."""

    # The file's decimal mark when settled before the first row; None: settled by the
    # first value that shows it, and rows whose reading depends on it are rejected.
    decimal_mark: DecimalMark | None = None
    # word as written (casefolded) -> Buy, Sell, BuyToCover or SellShort
    action_aliases: Mapping[str, str] = field(default_factory=dict)
    # word as written (casefolded) -> Entry or Exit
    entry_exit_aliases: Mapping[str, str] = field(default_factory=dict)
    # The commissions setting, for rows whose file gives no commission (or a zero).
    commissions: CommissionSchedule | None = None


_NO_OPTIONS = ParseOptions()


class RowParser:
    """Parses the rows of one file, read from its first data line, in order.

    Files without an ID column get stand-in IDs from each fill's meaning that count
    earlier fills of the same meaning, so the parser must see every row of the file, once,
    in file order (``stand_ins``).
    """

    def __init__(
        self,
        layout: Layout,
        date_order: DateOrder | None,
        tz: tzinfo,
        options: ParseOptions = _NO_OPTIONS,
    ) -> None:
        self.layout = layout
        cols = layout.columns
        required = [cols[c] for c in REQUIRED if c in cols]
        if layout.has_id:
            required.append(cols["execution_id"])
        # Absent columns read a padding field past any real one, so the hot path needs no
        # per-column "is it there" test.
        absent = layout.field_count + 2
        complete = all(c in cols for c in (*OPTIONAL, "account"))
        width = layout.field_count if complete else absent + 1
        self._plan = (
            max(required) + 1,
            layout.field_count + 2,
            width,
            layout.has_id,
            *(cols.get(c, absent) for c in REQUIRED + OPTIONAL),
            layout.named_count,
        )
        self._layout = layout
        self._field_count = layout.field_count
        self._default_account = layout.default_account or ""
        self._names = {index: LABELS[c] for c, index in cols.items()}
        # None: nothing settled the file's order; a date that reads two ways is rejected.
        self._date_order: DateOrder | None = date_order
        self._times = TimeReader(date_order, tz)
        self._clocks = self._times.clocks
        self._last_date = ""
        self._last_hours: tuple[datetime, ...] = ()
        # Unquoted values of a "," file cannot hold a decimal comma: "." unless settled.
        comma_file: DecimalMark | None = "." if layout.delimiter == "," else None
        self.decimal_mark: DecimalMark | None = options.decimal_mark or comma_file
        # Rows a setting decides (decimal_mark, action_aliases): read again when it changes.
        self.ambiguous_rows = 0
        self._actions = dict(options.action_aliases)
        self._known_actions = set(ACTIONS)
        self._entry_exit: dict[str, str | None] = {"Entry": "Entry", "Exit": "Exit", "": None}
        self._entry_exit_aliases = dict(options.entry_exit_aliases)
        self._schedule = options.commissions or None
        self._extra = layout.extra
        self._extra_json: dict[tuple[str, ...], str | None] = {}
        # Quantities, prices and commissions repeat a lot within a file.
        self._quantities: dict[str, int] = {}
        self._prices: dict[str, Decimal] = {}
        # Commission text -> (amount, currency code).
        self._money: dict[str, tuple[Decimal | None, str | None]] = dict.fromkeys(
            EMPTY_MONEY, (None, None)
        )
        self.stand_ins = StandIns()
        self._last_day: str | None = None  # the stand-in's reading of ``_last_date``

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
                line_no,
                raw,
                "field_count",
                f"expected {self._field_count} fields, got {count}"
                + rejections.shift_hint(self._layout, fields),
            )
        if count > named and (fields[-1] or count > named + 1) and "".join(fields[named:]).strip():
            # Empty trailing fields are fine; a value past the named columns means a comma
            # inside an unquoted value shifted every column after it.
            hint = (
                rejections.shift_hint(self._layout, fields)
                or " (a comma inside an unquoted value?)"
            )
            return RowError(
                line_no,
                raw,
                "field_count",
                f"expected {self._field_count} fields, got {count}: a value past "
                f"the last column{hint}",
            )
        if not has_id:
            self.stand_ins.note_legacy(line_no, fields)
        if count < width:
            fields = fields + [""] * (width - count)
        if "\x00" in raw:
            return rejections.nul_error(self._names, fields, line_no, raw)

        instrument = fields[i_instrument].strip()
        account = fields[i_account].strip() or self._default_account
        action = fields[i_action].strip()
        execution_id = fields[i_id].strip() if has_id else _STAND_IN_DUE
        if not (instrument and account and action and execution_id):
            return rejections.missing_value(fields, line_no, raw, (instrument, account, action))
        if (
            has_id
            and ("+" in execution_id or "-" in execution_id)
            and _SCIENTIFIC.fullmatch(execution_id)
        ):
            return rejections.mangled_id(execution_id, line_no, raw)
        if self._actions:
            action = self._actions.get(action.casefold(), action)
        if action not in self._known_actions:  # a word no side can be read from: never guessed
            if side_of(action) is None:
                self.ambiguous_rows += 1  # the action_aliases setting decides it
                return rejections.unknown_action(action, line_no, raw)
            self._known_actions.add(action)

        # The caches are keyed by the unstripped text: a hit needs no strip at all.
        text = fields[i_quantity]
        try:
            quantity = self._quantities[text]
        except KeyError:
            parsed_quantity = self._quantity(text.strip())
            if parsed_quantity is AMBIGUOUS and self._settle_from_row(fields):
                parsed_quantity = self._quantity(text.strip())
            if parsed_quantity is None:
                return RowError(
                    line_no,
                    raw,
                    "bad_quantity",
                    f"Quantity {show(text.strip())} is not a positive whole number",
                )
            if isinstance(parsed_quantity, Ambiguous):
                return self._ambiguous("Quantity", text.strip(), line_no, raw)
            quantity = self._remember(self._quantities, text, parsed_quantity)

        text = fields[i_price]
        try:
            price = self._prices[text]
        except KeyError:
            stripped = text.strip()
            parsed_price = read_number(stripped, self.decimal_mark)
            if parsed_price is AMBIGUOUS and self._settle_from_row(fields):
                parsed_price = read_number(stripped, self.decimal_mark)
            if isinstance(parsed_price, Ambiguous):
                return self._ambiguous("Price", stripped, line_no, raw)
            if parsed_price is None or parsed_price <= 0:
                return RowError(
                    line_no,
                    raw,
                    "bad_price",
                    f"Price {show(stripped)} is not a positive decimal number",
                )
            if self.decimal_mark is None:
                self.decimal_mark = mark_shown(stripped)
            price = self._remember(self._prices, text, parsed_price)

        # Time, fast path inlined: both halves of "1/28/2025 10:59:52 AM" come from caches.
        text = time_text = fields[i_time]
        date_text, _, clock = text.partition(" ")
        when = self._clocks.get(clock) or self._times.clock(clock)
        if date_text != self._last_date:  # rows come in runs of one date
            self._last_hours = self._times.day(date_text)
            self._last_date = date_text
            self._last_day = None if has_id else wall_date(date_text)
        hours = self._last_hours
        executed_at = hours[when[0]] + when[1] if when and hours else self._times.parse(text)
        if executed_at is None:
            error = rejections.bad_time(text.strip(), self._date_order, line_no, raw)
            self.ambiguous_rows += error.reason == "ambiguous_date"  # date_order decides it
            return error

        text = fields[i_commission]
        try:
            commission, currency = self._money[text]
        except KeyError:
            known = self._money.get(text.strip())
            if known is None:
                stripped = text.strip()
                money = read_number(stripped, self.decimal_mark, money=True)
                if money is AMBIGUOUS and self._settle_from_row(fields):
                    money = read_number(stripped, self.decimal_mark, money=True)
                if isinstance(money, Ambiguous):
                    return self._ambiguous("Commission", stripped, line_no, raw)
                if money is None:
                    return RowError(
                        line_no,
                        raw,
                        "bad_commission",
                        f"Commission {show(stripped)} is not a money amount",
                    )
                try:
                    known = (money, money_currency(stripped))
                except ValueError as marker:
                    return rejections.unknown_currency(stripped, str(marker), line_no, raw)
                if self.decimal_mark is None:
                    self.decimal_mark = mark_shown(stripped)
            commission, currency = self._remember(self._money, text, known)
        source = None if commission is None else FILE
        if not commission and self._schedule is not None:  # none, or a zero
            commission, currency, source = self._schedule.applied(
                instrument, quantity, commission, currency
            )

        text = fields[i_entry_exit]
        try:
            entry_exit = self._entry_exit[text]
        except KeyError:
            entry_exit = rejections.entry_exit_word(
                self._entry_exit, self._entry_exit_aliases, text
            )
        if entry_exit is _UNKNOWN_EX:  # the entry_exit_aliases setting decides it
            self.ambiguous_rows += 1
            return rejections.unknown_entry_exit(text.strip(), line_no, raw)
        order_id = fields[i_order_id].strip() or None
        order_name = fields[i_order_name].strip() or None
        connection = fields[i_connection].strip() or None
        position = fields[i_position].strip() or None
        extra = extra_json(self._extra_json, self._extra, fields) if self._extra else None
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
        draft.extra = extra
        draft.commission_currency = currency
        draft.commission_source = source
        if not has_id:
            minute = clock_minute(self._last_day, when) if self._last_hours else None
            draft.execution_id = self.stand_ins.of(draft, fields[i_price], time_text, minute)
        draft.__class__ = Execution
        execution: Execution = draft
        return execution

    @staticmethod
    def _remember(cache: dict[str, _V], key: str, value: _V) -> _V:
        if len(cache) < _CACHE_LIMIT:  # keep the first values: a file's values repeat early
            cache[key] = value
        return value

    def _quantity(self, text: str) -> int | Ambiguous | None:
        if len(text) <= 9 and text.isascii() and text.isdigit():
            return parse_quantity(text, False)
        value = read_number(text, self.decimal_mark)
        if value is AMBIGUOUS:
            return AMBIGUOUS
        return parse_quantity(text, (self.decimal_mark or mark_shown(text) or ".") == ",")

    def _settle_from_row(self, fields: list[str]) -> bool:
        """Another number of the same row may show the file's decimal mark."""
        cols = self._layout.columns
        for column in ("price", "commission", "quantity"):
            index = cols.get(column)
            if index is not None and index < len(fields):
                mark = mark_shown(fields[index])
                if mark is not None:
                    self.decimal_mark = mark
                    return True
        return False

    def _ambiguous(self, label: str, text: str, line_no: int, raw: str) -> RowError:
        self.ambiguous_rows += 1
        return rejections.ambiguous_decimal(label, text, line_no, raw)
