"""A scripted stand-in for ``ImportService``, to run the importer thread in-process.

Each ``import_file`` call takes the next scripted outcome (the last one repeats): an
``ImportResult``, an exception to raise, or ``"batches"``: a large file committing batch
after batch until it is asked to stop.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from csv_import_daemon.importing.result import Counts, ImportResult, ImportStatus
from csv_import_daemon.importing.write_session import Commits


class ScriptedService:
    """Stands in for ImportService: each call takes the next scripted outcome."""

    def __init__(self, *outcomes: ImportResult | BaseException | str) -> None:
        self.engine = create_engine("sqlite://")
        self.shares_transactions = False  # every file alone, through import_file
        self.heartbeat = None
        self.commits = Commits()
        self.outcomes = list(outcomes)
        self.calls: list[float] = []

    def import_file(
        self, path: Path, *, progress: Any = None, should_stop: Any = None, **_: Any
    ) -> ImportResult:
        self.calls.append(time.monotonic())
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if outcome == "batches":  # a large file: commits batch after batch until stopped
            done = 0
            while not should_stop():
                done += 1
                self.commits.count += 1  # a batch committed
                time.sleep(0.01)  # one batch's work
            return ImportResult(
                path=str(path), status=ImportStatus.INTERRUPTED, counts=Counts(inserted=done)
            )
        if isinstance(outcome, BaseException):
            raise outcome
        assert isinstance(outcome, ImportResult)
        return dataclasses.replace(outcome, path=str(path))


def result(status: str, pending: int = 0, inserted: int = 0) -> ImportResult:
    return ImportResult(
        path="",
        status=ImportStatus(status),
        pending_bytes=pending,
        counts=Counts(inserted=inserted),
    )
