"""What parsing a row gives: an execution, or a rejection saying why not."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any


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
    # Columns stored nowhere else (TradeValidation, Rate, ...), as JSON: header -> value.
    extra: str | None = None
    # The ISO code of the commission's symbol or code ("$0.52" -> "USD"); None: none shown.
    commission_currency: str | None = None
    # Where ``commission`` came from: "file", "schedule" or "schedule_over_zero" (the
    # commissions setting), None when neither gave one (config.commissions).
    commission_source: str | None = None


def show(value: str) -> str:
    """A value as a rejection's detail or a refusal quotes it: repr, cut after 80 characters."""
    return repr(value if len(value) <= 80 else value[:80] + "...")


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


_CACHE_LIMIT = 65536


def extra_json(
    cache: dict[tuple[str, ...], str | None],
    extra: tuple[tuple[int, str], ...],
    fields: list[str],
) -> str | None:
    """The unmapped columns' non-empty values as JSON (header -> value), cached."""
    key = tuple(fields[i] for i, _ in extra)
    if key in cache:
        return cache[key]
    kept = {name: v.strip() for (_, name), v in zip(extra, key, strict=True) if v.strip()}
    text = json.dumps(kept, ensure_ascii=False) if kept else None
    if len(cache) < _CACHE_LIMIT:
        cache[key] = text
    return text
