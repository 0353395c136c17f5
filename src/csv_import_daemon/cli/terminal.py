"""Text for a terminal: what a file or a field holds is shown, never obeyed.

File names, account names and messages come from files anyone may drop in the folder. An
escape sequence among them could set the window title, erase lines, or disguise a link;
a newline could fake a line of the report. Every text renderer of the command line passes
what it shows through ``visible`` first: control characters (C0, DEL, C1), the Unicode
line separators and the bidirectional overrides become visible escapes (``\\x1b``,
``\\u202e``); everything else, accented letters included, is shown as it is.
"""

from __future__ import annotations

from typing import Any

_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_ESCAPED = (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029, *_BIDI)
_TABLE = {c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _ESCAPED}


def visible(value: Any) -> Any:
    """``value`` with every string in it escaped for a terminal: a string, or the strings
    of a dict's values and a list's or tuple's items (recursively); anything else as is."""
    if isinstance(value, str):
        return value.translate(_TABLE)
    if isinstance(value, dict):
        return {k: visible(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(visible(v) for v in value)
    return value
