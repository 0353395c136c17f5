"""Checkpoints as a type: loaded once per import, saved with the rows, resumed only when safe."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.files.names import path_key
from csv_import_daemon.files.reader import FileStat, read_header
from csv_import_daemon.importing.checkpoint import Checkpoint
from csv_import_daemon.importing.identity import resume_point
from csv_import_daemon.importing.result import Counts
from csv_import_daemon.importing.service import ImportService

HEADER = (
    "Instrument,Action,Quantity,Price,Time,ID,E/X,Position,Order ID,Name,Commission,"
    "Rate,Account,Connection,"
)


def line(n: int) -> str:
    return (
        f"MNQ MAR25,Buy,1,21539.50,1/28/2025 10:59:{n:02d} AM,id{n:04d},Entry,-,,Entry,$0.52,"
        "1,Sim101,Sim,"
    )


def write(path: Path, *numbers: int) -> Path:
    path.write_text("".join(x + "\r\n" for x in [HEADER, *map(line, numbers)]))
    return path


class Statements:
    """Every SQL statement, commit and rollback the engine runs while recording."""

    def __init__(self) -> None:
        self.sql: list[str] = []
        self.commits = 0

    def reads_of(self, table: str) -> list[str]:
        return [s for s in self.sql if s.lstrip().upper().startswith("SELECT") and table in s]

    def writes_of(self, table: str) -> list[str]:
        return [s for s in self.sql if not s.lstrip().upper().startswith("SELECT") and table in s]


@pytest.fixture
def recorder(engine: Engine) -> Iterator[Statements]:
    rec = Statements()

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        rec.sql.append(statement)

    def on_commit(_conn: Any) -> None:
        rec.commits += 1

    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    yield rec
    event.remove(engine, "before_cursor_execute", on_execute)
    event.remove(engine, "commit", on_commit)


def test_a_one_line_append_reads_the_checkpoint_once_and_writes_once(
    engine: Engine, settings: Settings, tmp_path: Path, recorder: Statements
) -> None:
    """Appending one line to a known file: one read of import_files, one write transaction."""
    service = ImportService(engine, settings)
    path = write(tmp_path / "a.csv", 1, 2)
    assert service.import_file(path).inserted == 2
    with path.open("a", newline="") as f:
        f.write(line(3) + "\r\n")
    recorder.sql.clear()
    recorder.commits = 0
    result = service.import_file(path)
    assert (result.status, result.inserted) == ("imported", 1)
    assert len(recorder.reads_of("import_files")) == 1, recorder.sql
    writes = recorder.writes_of("import_files")
    assert len(writes) == 1
    assert recorder.commits == 1


def test_an_unchanged_file_costs_one_read_and_no_write(
    engine: Engine, settings: Settings, tmp_path: Path, recorder: Statements
) -> None:
    """Seen again unchanged: the checkpoint is read once and nothing is written."""
    service = ImportService(engine, settings)
    path = write(tmp_path / "a.csv", 1)
    service.import_file(path)
    recorder.sql.clear()
    recorder.commits = 0
    assert service.import_file(path).status == "unchanged"
    assert len(recorder.reads_of("import_files")) == 1
    assert recorder.commits == 0
    assert not [s for s in recorder.sql if not s.lstrip().upper().startswith(("SELECT", "BEGIN"))]


def test_a_new_file_with_no_rename_to_adopt_opens_no_extra_write_transaction(
    engine: Engine, settings: Settings, tmp_path: Path, recorder: Statements
) -> None:
    """The inode-adoption lookup is a plain read: a new file commits exactly once."""
    service = ImportService(engine, settings)
    path = write(tmp_path / "new.csv", 1, 2)
    assert service.import_file(path).inserted == 2
    assert recorder.commits == 1


def test_totals_are_the_loaded_checkpoint_plus_this_import(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """The checkpoint's totals add this import's counts to what it held before."""
    service = ImportService(engine, settings)
    path = write(tmp_path / "a.csv", 1, 2)
    service.import_file(path)
    with path.open("a", newline="") as f:
        f.write(line(3) + "\r\n" + line(1) + "\r\n")
    service.import_file(path)
    with engine.connect() as conn:
        cp = service.checkpoints.load(conn, path_key(path))
    assert cp is not None
    assert cp.totals == Counts(inserted=3, duplicates=1)


def _resume(path: Path, prior: Checkpoint | None, reread: bool = False) -> str:
    with path.open("rb") as f:
        header = read_header(f)
        assert header is not None
        st = FileStat.of(os.fstat(f.fileno()))
        return resume_point(f, header, st, prior, reread=reread).reason


def test_resume_point_says_why_a_file_is_read_from_the_start(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Resume only the same, untouched file; otherwise name the reason."""
    service = ImportService(engine, settings)
    path = write(tmp_path / "a.csv", 1, 2)
    service.import_file(path)
    with engine.connect() as conn:
        prior = service.checkpoints.load(conn, path_key(path))
    assert prior is not None
    assert _resume(path, None) == "new file"
    assert _resume(path, prior) == "resume"
    assert _resume(path, prior, reread=True) == "reread requested"
    write(tmp_path / "a.csv", 7, 8)  # same size, same inode, other bytes
    assert _resume(path, prior) == "rewritten"
    write(tmp_path / "a.csv", 1)
    assert _resume(path, prior) == "shorter than the checkpoint"
