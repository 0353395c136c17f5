"""Moved to ``tests/support/``; this name stays so older imports keep working."""

from support.daemon import DaemonProcess, Idle, start_daemon
from support.journal import Journal, sqlite_url
from support.notify import NotifyListener
from support.rows import (
    BASE_TIME,
    HEADER,
    Row,
    append,
    csv_text,
    ids_of,
    make_row,
    make_rows,
    write_csv,
)
from support.waiting import DEFAULT_TIMEOUT, POLL, assert_stays, wait_for

__all__ = [
    "BASE_TIME",
    "DEFAULT_TIMEOUT",
    "HEADER",
    "POLL",
    "DaemonProcess",
    "Idle",
    "Journal",
    "NotifyListener",
    "Row",
    "append",
    "assert_stays",
    "csv_text",
    "ids_of",
    "make_row",
    "make_rows",
    "sqlite_url",
    "start_daemon",
    "wait_for",
    "write_csv",
]
