"""Path rules shared by every module: which names are exports, checkpoint keys, and the
dates file names carry."""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

_EXECUTIONS_NAME_RE = re.compile(r"ninjatrader_executions_(\d{4})(\d{2})(\d{2})", re.IGNORECASE)


def path_key(path: Path) -> str:
    """A text key for any path, even one whose name is not valid UTF-8."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def path_of_key(key: str) -> Path:
    """The path a ``path_key`` was made from."""
    return Path(os.fsdecode(key.encode("utf-8", "backslashreplace")))


def date_from_name(name: str) -> date | None:
    """The session date in a ``NinjaTrader_Executions_YYYYMMDD`` file name, if valid."""
    m = _EXECUTIONS_NAME_RE.search(name)
    if m is None:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def is_candidate_name(name: str) -> bool:
    """``*.csv`` (any case), not hidden, not an editor's or Office's temporary file.

    The one rule for "could this be an export": the watcher queues only such files, and
    only such files of a folder count as evidence of its date order.
    """
    lower = name.lower()
    return (
        lower.endswith(".csv")
        and not lower.startswith((".", "~$", "~"))
        and not lower.endswith(("~", ".tmp"))
        and len(lower) > len(".csv")
    )
