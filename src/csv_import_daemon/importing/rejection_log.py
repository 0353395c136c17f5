"""The log lines of one import's rejected rows: the first ``LOG_EACH`` one by one, then
a single summary with the count and the reasons.

A file of one-byte bad lines is a rejection per line; one warning each turned a 400 KB
file into 44 MB of log. Every rejected row is still recorded in ``import_rejections`` (and
shown by ``status``); only the log is summarised.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from csv_import_daemon.logs import get_logger
from csv_import_daemon.parsing.row_parser import RowError

log = get_logger(__name__)

LOG_EACH = 100  # rejected rows of one import logged one by one; the rest are summarised


class RejectionLog:
    """Logs one import's rejected rows of ``file``; ``close`` writes the summary if due."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.logged = 0
        self.quiet: Counter[str] = Counter()  # reasons of the rows not logged one by one

    def rows(self, errors: Iterable[RowError]) -> None:
        for err in errors:
            if self.logged < LOG_EACH:
                self.logged += 1
                log.warning(
                    "row_rejected",
                    file=self.file,
                    line=err.line,
                    reason=err.reason,
                    detail=err.detail,
                )
            else:
                self.quiet[err.reason] += 1

    def close(self) -> None:
        """One ``row_rejections_summarised`` line when rows went unlogged (once)."""
        if not self.quiet:
            return
        not_logged = sum(self.quiet.values())
        log.warning(
            "row_rejections_summarised",
            file=self.file,
            rejected=self.logged + not_logged,
            logged=self.logged,
            not_logged=not_logged,
            reasons=dict(self.quiet.most_common()),
            hint="every rejected row is recorded in import_rejections (status shows them)",
        )
        self.quiet.clear()
