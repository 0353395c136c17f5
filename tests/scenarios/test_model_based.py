"""Model-based tests: random sequences of file operations against a simple model.

Hypothesis draws sequences of what happens to files in a watched folder: new files,
appended lines, half lines and their ends, rewrites with rows shuffled, re-exports with
new rows in the middle, truncation, deletion, dropping a file again, renames and restarts.
At each quiet point ("settle") the database must equal the model:

- ``must``: every execution that was completely written and present at a quiet point
  (the ledger never forgets, so deleted and truncated rows stay);
- ``maybe``: rows written and destroyed again before any quiet point (nobody could have
  read them), and complete last lines still waiting for their newline (read as final once
  the file is quiet);
- the database holds ``must`` and nothing outside ``must | maybe``, no row is rejected (the
  model writes only valid rows) and each checkpoint stands at its file's end (before a
  half line).

Two drivers share the machine: ``ImportService`` in-process (fast, many examples, SQLite
and PostgreSQL) and the real daemon in a subprocess (fewer examples, kill -9 and SIGTERM
restarts). ``--release`` runs many more examples; ``CSV_IMPORT_TEST_SEED`` fixes the seed.
"""

from __future__ import annotations

import codecs
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, text

from csv_import_daemon.config.settings import Settings, load_settings
from csv_import_daemon.db import migrate
from csv_import_daemon.db.engine import make_engine
from csv_import_daemon.importing.service import ImportService
from support import rows as support_rows
from support.daemon import DaemonProcess
from support.journal import Journal
from support.rows import HEADER, clock
from support.waiting import wait_for

RELEASE = "--release" in sys.argv  # the pytest timeouts below are fixed at collection
NAMES = ("a.csv", "b b.csv", "NinjaTrader_Executions_20251031.csv", "Überträge.csv", "e.csv")
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16")  # utf-16: little-endian with a BOM
BASE_TIME = datetime(2025, 10, 31, 8, 0, 0)
MAX_RESTARTS = 2  # per example: a daemon restart costs seconds
Trades = dict[str, tuple[Any, ...]]  # execution ID -> (instrument, account, quantity, price)
TABLES = ("trades", "imported_executions", "import_rejections", "import_files")


def make_row(example: int, n: int) -> tuple[str, str]:
    """Row ``n`` of an example: (execution ID, line); IDs start with the example number."""
    eid = f"{example:06d}{n:06d}{'c0ffee' * 4}"[:32]
    row = support_rows.make_row(
        0,
        eid,
        action=("Buy", "Sell")[n % 2],
        quantity=1 + n % 7,
        price=f"{21000 + n * 0.25:.2f}",
        time=clock(BASE_TIME + timedelta(seconds=n)),
        order_id=f"{n * 7919:x}",
        account=("SIM101", "Sim-Account 2", "APEX-77")[n % 3],
    )
    return eid, row.line


@dataclass
class Half:
    """The start of a line written without its end; ``complete`` when only the newline
    is missing (every field is there, so a quiet file may read it as final)."""

    eid: str
    line: str
    cut: int

    @property
    def complete(self) -> bool:
        return self.cut == len(self.line)


@dataclass
class FileModel:
    encoding: str
    newline: str
    has_header: bool = True
    rows: list[tuple[str, str]] = field(default_factory=list)  # (execution ID, line)
    half: Half | None = None

    def encode(self, text_: str) -> bytes:
        return text_.encode("utf-16-le" if self.encoding == "utf-16" else "utf-8")

    def content(self) -> bytes:
        if not self.has_header:
            return b""
        bom = {"utf-8": b"", "utf-8-sig": codecs.BOM_UTF8, "utf-16": codecs.BOM_UTF16_LE}
        body = HEADER + self.newline + "".join(line + self.newline for _, line in self.rows)
        return bom[self.encoding] + self.encode(body)


class FolderMachine(RuleBasedStateMachine):
    """The folder, the files and the model; subclasses say how the importer runs.

    Example number ``example`` names its files ``{tag}NAME`` and its IDs start with the
    number, so examples sharing a folder and a database do not see each other.
    """

    def __init__(self, folder: Path, example: int, tag: str) -> None:
        super().__init__()
        self.folder = folder
        self.example = example
        self.tag = tag
        self.files: dict[str, FileModel] = {}
        self.gone: dict[str, FileModel] = {}
        self.must: set[str] = set()
        self.maybe: set[str] = set()
        self.serial = 0
        self.lines: dict[str, str] = {}  # every line written, by execution ID

    # -- helpers ---------------------------------------------------------------------------

    def new_row(self) -> tuple[str, str]:
        self.serial += 1
        eid, line = make_row(self.example, self.serial)
        self.lines[eid] = line
        return eid, line

    def path(self, name: str) -> Path:
        return self.folder / f"{self.tag}{name}"

    def write_all(self, name: str, replace: bool) -> None:
        """Write a file's whole content, in place (same inode) or by rename (a new one)."""
        model = self.files[name]
        data = model.content()
        if replace:
            tmp = self.folder / f".{self.tag}{name}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, self.path(name))
        else:
            with open(self.path(name), "r+b" if self.path(name).exists() else "wb") as f:
                f.truncate(0)
                f.write(data)

    def append_bytes(self, name: str, data: bytes) -> None:
        with open(self.path(name), "ab") as f:
            f.write(data)

    def destroyed(self, rows: list[tuple[str, str]]) -> None:
        """Rows gone from the folder: those never seen at a quiet point may be lost."""
        self.maybe.update(eid for eid, _ in rows if eid not in self.must)

    def drop_half(self, model: FileModel) -> None:
        if model.half is not None and model.half.complete:
            self.maybe.add(model.half.eid)
        model.half = None

    # -- rules -----------------------------------------------------------------------------

    @precondition(lambda self: len(self.files) < len(NAMES))
    @rule(
        data=st.data(),
        count=st.integers(0, 12),
        encoding=st.sampled_from(ENCODINGS),
        crlf=st.booleans(),
        by_rename=st.booleans(),
    )
    def create(
        self, data: st.DataObject, count: int, encoding: str, crlf: bool, by_rename: bool
    ) -> None:
        name = data.draw(st.sampled_from([n for n in NAMES if n not in self.files]))
        self.gone.pop(name, None)
        model = FileModel(encoding, "\r\n" if crlf else "\n")
        model.rows = [self.new_row() for _ in range(count)]
        self.files[name] = model
        self.write_all(name, replace=by_rename)

    @precondition(lambda self: any(m.half is None for m in self.files.values()))
    @rule(data=st.data(), count=st.integers(1, 6))
    def append_lines(self, data: st.DataObject, count: int) -> None:
        name = data.draw(
            st.sampled_from(sorted(n for n, m in self.files.items() if m.half is None))
        )
        model = self.files[name]
        rows = [self.new_row() for _ in range(count)]
        text_ = "".join(line + model.newline for _, line in rows)
        if not model.has_header:  # truncated to nothing: the writer starts a new file
            model.has_header = True
            model.rows = rows
            self.write_all(name, replace=False)
            return
        model.rows.extend(rows)
        self.append_bytes(name, model.encode(text_))

    @precondition(lambda self: any(m.half is None and m.has_header for m in self.files.values()))
    @rule(data=st.data(), complete=st.booleans())
    def append_half_line(self, data: st.DataObject, complete: bool) -> None:
        """Half a line: cut before its last field, or complete but for the newline."""
        name = data.draw(
            st.sampled_from(
                sorted(n for n, m in self.files.items() if m.half is None and m.has_header)
            )
        )
        model = self.files[name]
        eid, line = self.new_row()
        cut = len(line) if complete else data.draw(st.integers(1, line.rindex(",")))
        model.half = Half(eid, line, cut)
        if complete:
            self.maybe.add(eid)
        self.append_bytes(name, model.encode(line[:cut]))

    @precondition(lambda self: any(m.half is not None for m in self.files.values()))
    @rule(data=st.data())
    def finish_half_line(self, data: st.DataObject) -> None:
        name = data.draw(
            st.sampled_from(sorted(n for n, m in self.files.items() if m.half is not None))
        )
        model = self.files[name]
        half = model.half
        assert half is not None
        model.half = None
        model.rows.append((half.eid, half.line))
        self.maybe.discard(half.eid)
        self.append_bytes(name, model.encode(half.line[half.cut :] + model.newline))

    @precondition(lambda self: any(m.has_header for m in self.files.values()))
    @rule(data=st.data(), new=st.integers(0, 3), by_rename=st.booleans())
    def rewrite_shuffled(self, data: st.DataObject, new: int, by_rename: bool) -> None:
        """The file written again with its rows (and maybe a few new ones) in any order."""
        name = data.draw(st.sampled_from(sorted(n for n, m in self.files.items() if m.has_header)))
        model = self.files[name]
        self.drop_half(model)
        rows = model.rows + [self.new_row() for _ in range(new)]
        model.rows = data.draw(st.permutations(rows))
        self.write_all(name, replace=by_rename)

    @precondition(lambda self: any(m.has_header and m.rows for m in self.files.values()))
    @rule(data=st.data(), new=st.integers(1, 4))
    def export_again_with_rows_inserted(self, data: st.DataObject, new: int) -> None:
        """Next day's grid export over the same name: the same first rows, new rows in the
        middle (the grid groups by account), written in place."""
        name = data.draw(
            st.sampled_from(sorted(n for n, m in self.files.items() if m.has_header and m.rows))
        )
        model = self.files[name]
        self.drop_half(model)
        at = data.draw(st.integers(0, len(model.rows)))
        model.rows = model.rows[:at] + [self.new_row() for _ in range(new)] + model.rows[at:]
        self.write_all(name, replace=False)

    @precondition(lambda self: bool(self.files))
    @rule(data=st.data(), to_nothing=st.booleans())
    def truncate(self, data: st.DataObject, to_nothing: bool) -> None:
        """Cut the file after some of its rows, or to zero bytes."""
        name = data.draw(st.sampled_from(sorted(self.files)))
        model = self.files[name]
        self.drop_half(model)
        keep = 0 if to_nothing else data.draw(st.integers(0, len(model.rows)))
        self.destroyed(model.rows[keep:])
        model.rows = model.rows[:keep]
        if to_nothing:
            model.has_header = False
        size = len(model.content())
        with open(self.path(name), "r+b") as f:
            f.truncate(size)

    @precondition(lambda self: bool(self.files))
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.files)))
        model = self.files.pop(name)
        self.drop_half(model)
        self.destroyed(model.rows)
        self.gone[name] = model
        self.path(name).unlink()

    @precondition(lambda self: bool(self.gone))
    @rule(data=st.data(), new=st.integers(0, 3))
    def drop_again(self, data: st.DataObject, new: int) -> None:
        """A deleted file comes back under its name (an export saved again), maybe longer."""
        name = data.draw(st.sampled_from(sorted(self.gone)))
        model = self.gone.pop(name)
        model.has_header = True
        model.rows = model.rows + [self.new_row() for _ in range(new)]
        self.files[name] = model
        self.write_all(name, replace=data.draw(st.booleans()))

    @precondition(lambda self: bool(self.files) and len(self.files) < len(NAMES))
    @rule(data=st.data())
    def rename(self, data: st.DataObject) -> None:
        old = data.draw(st.sampled_from(sorted(self.files)))
        new = data.draw(st.sampled_from([n for n in NAMES if n not in self.files]))
        self.gone.pop(new, None)
        os.rename(self.path(old), self.path(new))
        self.files[new] = self.files.pop(old)

    @rule(final_lines=st.booleans())
    def settle(self, final_lines: bool) -> None:
        """A quiet point: the importer catches up and the database must equal the model."""
        self.catch_up(final_lines)
        self.must.update(eid for m in self.files.values() for eid, _ in m.rows)
        self.check()

    def teardown(self) -> None:
        try:
            self.settle(final_lines=True)
        finally:
            self.clean_up()

    # -- the importer, and what the database must say ---------------------------------------

    def catch_up(self, final_lines: bool) -> None:
        raise NotImplementedError

    def clean_up(self) -> None:
        for name in self.files:
            self.path(name).unlink(missing_ok=True)

    def database(self) -> tuple[set[str], Trades, list[dict[str, Any]], dict[str, Any]]:
        raise NotImplementedError

    def mismatch(self) -> str | None:
        """What is wrong with the database now, or None when it equals the model."""
        ledger, trades, rejections, checkpoints = self.database()
        mine = f"{self.example:06d}"
        ledger = {eid for eid in ledger if eid.startswith(mine)}
        trades = {eid: row for eid, row in trades.items() if eid.startswith(mine)}
        if rejections:
            return f"rows rejected although every line is valid: {rejections[:3]}"
        if ledger != set(trades):
            return f"ledger and trades differ: {sorted(ledger ^ set(trades))[:5]}"
        for eid, stored in trades.items():
            f = self.lines[eid].split(",")
            if stored != (f[0], f[12], int(f[2]), Decimal(f[3])):
                return f"trade {eid} stored as {stored}, written as {self.lines[eid]!r}"
        missing, extra = self.must - ledger, ledger - self.must - self.maybe
        if missing or extra:
            return f"missing {sorted(missing)}, unexpected {sorted(extra)}"
        for name, model in self.files.items():
            if not model.has_header:
                continue
            key = str(self.path(name))
            size = self.path(name).stat().st_size
            half = model.half
            ends = {size} if half is None else {size - len(model.encode(half.line[: half.cut]))}
            if half is not None and half.complete:
                ends.add(size)  # read as final once quiet
            cp = checkpoints.get(key)
            if cp is None or cp["offset"] not in ends:
                return f"checkpoint of {name} is {cp and cp['offset']}, expected one of {ends}"
        return None

    def check(self) -> None:
        problem = self.mismatch()
        assert problem is None, problem


def _read_database(engine: Engine) -> tuple[set[str], Trades, list[dict[str, Any]], dict[str, Any]]:
    with engine.connect() as conn:
        ledger = set(conn.execute(text("SELECT execution_id FROM imported_executions")).scalars())
        trades = {
            r.execution_id: (r.instrument, r.account, r.quantity, Decimal(str(r.price)))
            for r in conn.execute(
                text("SELECT execution_id, instrument, account, quantity, price FROM trades")
            )
        }
        rejections = [
            dict(r._mapping)
            for r in conn.execute(
                text("SELECT source_file, line, reason, detail FROM import_rejections")
            )
        ]
        checkpoints = {
            r.path: dict(r._mapping)
            for r in conn.execute(
                text('SELECT path, "offset", pending_bytes, status FROM import_files')
            )
        }
    return ledger, trades, rejections, checkpoints


def _hypothesis_settings(examples: int, steps: int) -> settings:
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )


def _seeded(machine: type[RuleBasedStateMachine]) -> type[RuleBasedStateMachine]:
    value = os.environ.get("CSV_IMPORT_TEST_SEED")
    return seed(int(value))(machine) if value else machine


# -- in-process: ImportService ---------------------------------------------------------------


def in_process_machine(engine: Engine, cfg: Settings) -> type[FolderMachine]:
    class InProcess(FolderMachine):
        """Each quiet point imports every file in the folder, in a drawn order."""

        def __init__(self) -> None:
            self.root = Path(tempfile.mkdtemp(prefix="model-"))
            (self.root / "watch dir").mkdir()
            super().__init__(self.root / "watch dir", 0, "")
            with engine.begin() as conn:
                for table in TABLES:
                    conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - constant names
            self.service = ImportService(engine, cfg)

        @initialize()
        def nothing_yet(self) -> None:
            self.check()

        @rule()
        def restart(self) -> None:
            """A new service: nothing may live only in memory."""
            self.service = ImportService(engine, cfg)

        def catch_up(self, final_lines: bool) -> None:
            for name in sorted(self.files, reverse=self.serial % 2 == 1):
                result = self.service.import_file(self.path(name), final_line_ok=final_lines)
                assert result.status not in ("error", "refused"), result.as_dict()

        def database(self) -> tuple[set[str], Trades, list[dict[str, Any]], dict[str, Any]]:
            return _read_database(engine)

        def clean_up(self) -> None:
            shutil.rmtree(self.root, ignore_errors=True)

    return InProcess


@pytest.mark.timeout(3600 if RELEASE else 300)
def test_import_service_equals_the_model(engine: Engine, settings: Settings, release: bool) -> None:
    """Random file histories imported in-process equal the model at every quiet point."""
    machine = _seeded(in_process_machine(engine, settings))
    run_state_machine_as_test(
        machine, settings=_hypothesis_settings(2000 if release else 150, 40 if release else 25)
    )


def _export(rows: list[tuple[str, str]]) -> str:
    """A file's text: the header and ``rows`` (ID, line), LF line ends."""
    return HEADER + "\n" + "".join(line + "\n" for _, line in rows)


def _save_over(path: Path, rows: list[tuple[str, str]]) -> None:
    """Save over ``path`` in place (same inode), as a spreadsheet's save does."""
    with open(path, "r+", encoding="utf-8") as f:
        f.truncate(0)
        f.write(_export(rows))


def test_export_saved_over_the_same_file_with_rows_inserted_is_read_again(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """An export saved over the same file with rows inserted is read again, not resumed."""
    rows = [make_row(0, n) for n in range(30)]
    path = tmp_path / "grid.csv"
    path.write_text(_export(rows[:20]))
    service = ImportService(engine, settings)
    assert service.import_file(path).inserted == 20
    _save_over(path, rows[:10] + rows[20:] + rows[10:20])
    result = service.import_file(path)
    assert (result.inserted, result.duplicates, result.rejected) == (10, 20, 0)
    assert _read_database(engine)[0] == {eid for eid, _ in rows}


def test_file_rewritten_while_it_is_read_is_not_resumed_mid_line(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """A file saved over between reading and committing is not resumed mid-line."""
    rows = [make_row(0, n) for n in range(40)]
    path = tmp_path / "grid.csv"
    path.write_text(_export(rows[:20]))

    def save_over() -> bool:
        _save_over(path, rows[:10] + rows[20:] + rows[10:20])
        return True  # stop here: the batch read before the rewrite commits now

    service = ImportService(engine, settings)
    first = service.import_file(path, should_stop=save_over)
    assert (first.status, first.inserted) == ("interrupted", 20)
    second = service.import_file(path)
    assert (second.inserted, second.duplicates, second.rejected) == (20, 20, 0)
    assert _read_database(engine)[0] == {eid for eid, _ in rows}


def test_header_only_file_saved_over_with_another_line_ending_is_read_from_its_header(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """A header-only CRLF file saved over by an LF file is read from the new header's end."""
    rows = [make_row(0, n) for n in range(3)]
    path = tmp_path / "a.csv"
    path.write_bytes(HEADER.encode() + b"\r\n")
    service = ImportService(engine, settings)
    assert service.import_file(path).offset == len(HEADER) + 2
    with open(path, "r+b") as f:
        f.truncate(0)
        f.write(_export(rows).encode())
    result = service.import_file(path)
    assert (result.inserted, result.rejected, result.conflicts) == (3, 0, 0)
    with engine.connect() as conn:
        stored = set(conn.execute(text("SELECT instrument FROM trades")).scalars())
    assert stored == {"MNQ 12-25"}  # not "NQ 12-25": the first byte of the row belongs to it


# -- the daemon in a subprocess --------------------------------------------------------------


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file copied for each example (migrating each time is slow)."""
    path = tmp_path_factory.mktemp("template") / "journal.sqlite3"
    cfg = load_settings(
        {
            "database_url": f"sqlite:///{path}",
            "instance_name": "test-host",
            "source_timezone": "UTC",
        },
        environ={},
    )
    eng = make_engine(cfg)
    migrate.upgrade(eng)
    eng.dispose()
    return path


class SharedDaemon:
    """One daemon on one folder and database for all examples of a test (a start costs
    seconds); the restart rule replaces it, the test stops the last one."""

    def __init__(self, root: Path, template: Path) -> None:
        self.folder = root / "watch dir"
        self.folder.mkdir()
        db = root / "journal.sqlite3"
        shutil.copy(template, db)
        self.url = f"sqlite:///{db}"
        self.root = root
        self.journal = Journal(self.url)
        self.daemon: DaemonProcess | None = None
        self.examples = 0

    def start(self) -> None:
        self.daemon = DaemonProcess(self.folder, self.url, settle=0.3, log_dir=self.root)
        self.daemon.start()
        self.daemon.wait_ready(timeout=60)

    def restart(self, kill: bool) -> None:
        assert self.daemon is not None
        if kill:
            self.daemon.send(signal.SIGKILL)
            self.daemon.wait_exit(30)
        else:
            assert self.daemon.stop(30) == 0, self.daemon.log_text()[-3000:]
        self.daemon.__exit__(None, None, None)
        self.start()

    def close(self) -> None:
        try:
            if self.daemon is not None:
                self.daemon.stop_cleanly()
        finally:
            if self.daemon is not None:
                self.daemon.__exit__(None, None, None)
            self.journal.close()


def daemon_machine(shared: SharedDaemon) -> type[FolderMachine]:
    class WithDaemon(FolderMachine):
        """The real daemon watches the folder; quiet points wait for it with a deadline."""

        def __init__(self) -> None:
            shared.examples += 1
            super().__init__(shared.folder, shared.examples, f"x{shared.examples}-")
            self.restarts = 0
            if shared.daemon is None:
                shared.start()

        @precondition(lambda self: self.restarts < MAX_RESTARTS)
        @rule(kill=st.booleans())
        def restart(self, kill: bool) -> None:
            """SIGKILL or SIGTERM, then a new daemon on the same folder and database."""
            self.restarts += 1
            shared.restart(kill)

        def catch_up(self, final_lines: bool) -> None:
            # The daemon reads a complete last line as final once the file has been quiet
            # for --settle seconds, whatever final_lines says; the model allows both.
            must = self.must | {eid for m in self.files.values() for eid, _ in m.rows}

            def caught_up() -> str | None:
                saved, self.must = self.must, must
                try:
                    return self.mismatch()
                finally:
                    self.must = saved

            try:
                wait_for(caught_up, None, timeout=30, what="the daemon to catch up")
            except AssertionError as exc:
                log = shared.daemon.log_text()[-4000:] if shared.daemon else ""
                raise AssertionError(f"{exc}\n{log}") from None

        def database(self) -> tuple[set[str], Trades, list[dict[str, Any]], dict[str, Any]]:
            return _read_database(shared.journal.engine)

    return WithDaemon


@pytest.mark.daemon
@pytest.mark.timeout(3600 if RELEASE else 300)
def test_daemon_equals_the_model(template_db: Path, tmp_path: Path, release: bool) -> None:
    """Random file histories under the real daemon, with restarts, equal the model."""
    shared = SharedDaemon(tmp_path, template_db)
    try:
        machine = _seeded(daemon_machine(shared))
        run_state_machine_as_test(
            machine, settings=_hypothesis_settings(100 if release else 12, 30 if release else 20)
        )
    finally:
        shared.close()
