"""Column widths: the longest text each execution field may hold.

They are part of the contract: a longer value is a rejected row, not a failed batch. The
database models size their columns from this table, so the two cannot disagree.
"""

from __future__ import annotations

LIMITS = {
    "execution_id": 255,
    "account": 50,
    "instrument": 50,
    "action": 20,
    "entry_exit": 10,
    "order_id": 64,
    "order_name": 255,
    "connection": 100,
    "position_after": 20,
}
# trades.extra (the unmapped columns as JSON) is text, not sized by the table above; a row
# whose unmapped columns make more than this is rejected (too_long): 40 MB of unmapped
# columns made 260 MB of trades.extra, the header names repeated on every row.
EXTRA_LIMIT = 8192
