"""The settle rule: a file counts as finished writing once it has been quiet long enough.

One copy of the rule for everyone who asks: the importer (may an unterminated last line
be read as final?), the importer thread (when to look at a pending file again) and the
archiver (``archive_quiet`` before a move).
"""

from __future__ import annotations


def seconds_until_settled(mtime_ns: int, settle: float, now: float) -> float:
    """Seconds until a file last modified at ``mtime_ns`` (ns since the epoch) has been
    unchanged for ``settle`` seconds at wall-clock time ``now``; 0.0 once it has."""
    return max(0.0, settle - (now - mtime_ns / 1e9))
