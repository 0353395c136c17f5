"""A batch's lines as rows: executions, or rejections for lines no column can hold.

Length limits are the database columns' (``LIMITS``): a value longer than its column is a
rejected row, never a failed batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace

from csv_import_daemon.files import reader
from csv_import_daemon.parsing.limits import EXTRA_LIMIT, LIMITS
from csv_import_daemon.parsing.row_parser import Execution, RowError, RowParser, split_lines


def parse_batch(batch: reader.Chunk, parser: RowParser) -> tuple[list[Execution], list[RowError]]:
    """The batch's rows as executions and rejected rows (blank lines are neither)."""
    executions: list[Execution] = []
    errors: list[RowError] = []
    texts = batch.texts
    parse = parser.parse
    for i, fields in enumerate(split_lines(texts, parser.layout)):
        number = batch.first + i
        if i in batch.too_long:
            detail = f"line longer than {reader.MAX_LINE_BYTES} bytes"
            errors.append(RowError(number, texts[i], "line_too_long", detail))
            continue
        parsed = parse(fields, number, texts[i])
        if type(parsed) is RowError:
            if parsed.reason != "blank":
                errors.append(parsed)
        elif (too_long := _too_long(parsed)) is not None:  # type: ignore[arg-type]
            errors.append(RowError(number, texts[i], "too_long", too_long))
        else:
            executions.append(parsed)  # type: ignore[arg-type]
    return executions, errors


# Characters of line text per batch, whatever the line count: lines just under the 1 MiB
# line limit made 10,000-line batches of gigabytes (300 such lines: 382 MiB resident). A
# batch holds its text a few times over while parsed (fields, rows), so 4 MiB keeps it
# to tens of MB; short lines reach the row count long before this.
BATCH_CHARS = 4 << 20


def batches(
    chunks: Iterable[reader.Chunk], size: int, max_chars: int = BATCH_CHARS
) -> Iterator[reader.Chunk]:
    """Join the reader's block-sized chunks into batches of at least ``size`` lines or
    ``max_chars`` characters of text, whichever comes first."""
    acc: reader.Chunk | None = None
    chars = 0
    for chunk in chunks:
        chars += sum(map(len, chunk.texts))
        if acc is None:
            acc = chunk
        else:
            base = len(acc.texts)
            acc = replace(
                acc,
                texts=acc.texts + chunk.texts,
                end=chunk.end,
                too_long=acc.too_long | {base + i for i in chunk.too_long},
                tail=chunk.tail,
            )
        if len(acc.texts) >= size or chars >= max_chars:
            yield acc
            acc, chars = None, 0
    if acc is not None:
        yield acc


_STRING_LIMITS = tuple(LIMITS.items())
_ID_MAX, _ACCOUNT_MAX, _INSTRUMENT_MAX = (
    LIMITS["execution_id"],
    LIMITS["account"],
    LIMITS["instrument"],
)
_ACTION_MAX, _ORDER_NAME_MAX, _ORDER_ID_MAX = (
    LIMITS["action"],
    LIMITS["order_name"],
    LIMITS["order_id"],
)
_CONNECTION_MAX, _POSITION_MAX, _ENTRY_EXIT_MAX = (
    LIMITS["connection"],
    LIMITS["position_after"],
    LIMITS["entry_exit"],
)


def _too_long(ex: Execution) -> str | None:
    """Which text is longer than its column holds, if any."""
    # One cheap comparison chain first: almost every row passes it.
    if (
        len(ex.execution_id) <= _ID_MAX
        and len(ex.account) <= _ACCOUNT_MAX
        and len(ex.instrument) <= _INSTRUMENT_MAX
        and len(ex.action) <= _ACTION_MAX
        and len(ex.order_name or "") <= _ORDER_NAME_MAX
        and len(ex.order_id or "") <= _ORDER_ID_MAX
        and len(ex.connection or "") <= _CONNECTION_MAX
        and len(ex.position_after or "") <= _POSITION_MAX
        and len(ex.entry_exit or "") <= _ENTRY_EXIT_MAX
        and len(ex.extra or "") <= EXTRA_LIMIT
    ):
        return None
    if len(ex.extra or "") > EXTRA_LIMIT:
        return (
            f"unmapped columns make {len(ex.extra or '')} characters of extra; "
            f"at most {EXTRA_LIMIT} are kept per row"
        )
    for name, limit in _STRING_LIMITS:
        value = getattr(ex, name, None)
        if isinstance(value, str) and len(value) > limit:
            return f"{name} is {len(value)} characters; the column holds at most {limit}"
    return None
