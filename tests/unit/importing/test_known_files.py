"""Big folders: rescans skip unchanged files without the database; small files share commits.

In-process with the real parts: a SQLite file, ``ImportService``, ``DirectoryWatcher``
(its observer not started, so only rescans find changes), ``PathQueue``, ``ImporterThread``
and the daemon's own rescan. The kill -9 test runs the group import in a child process.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import IntegrityError

from csv_import_daemon.config.settings import Settings, load_settings
from csv_import_daemon.daemon.importer_thread import ImporterThread
from csv_import_daemon.daemon.lifecycle import _rescan_filter
from csv_import_daemon.daemon.main_loop import PathFilter, rescan
from csv_import_daemon.daemon.watcher import DirectoryWatcher, PathQueue
from csv_import_daemon.db.engine import make_engine
from csv_import_daemon.db.schema import prepare_database
from csv_import_daemon.files import reader
from csv_import_daemon.files.names import path_key
from csv_import_daemon.importing.result import ImportStatus
from csv_import_daemon.importing.service import ImportService
from csv_import_daemon.trips.refresh import rebuild_round_trips
from support.rows import append, make_row, make_rows, write_csv
from support.trip_reference import normalized, stored_round_trips
from support.waiting import wait_for


def _settings(tmp_path: Path) -> Settings:
    return load_settings(
        {
            "database_url": f"sqlite:///{tmp_path / 'journal.sqlite3'}",
            "source_timezone": "UTC",
            "instance_name": "test",
            "settle": 0.2,
        },
        environ={},
    )


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    settings = _settings(tmp_path)
    eng = make_engine(settings)
    prepare_database(eng, settings)
    yield eng
    eng.dispose()


def _trades(engine: Engine, path: Path | None = None) -> int:
    with engine.connect() as conn:
        if path is None:
            return int(conn.scalar(text("SELECT count(*) FROM trades")) or 0)
        sql = text("SELECT count(*) FROM trades WHERE source_file = :p")
        return int(conn.scalar(sql, {"p": path_key(path)}) or 0)


def _checkpoint(engine: Engine, path: Path) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT * FROM import_files WHERE path = :p"), {"p": path_key(path)}
        ).first()
    return dict(row._mapping) if row else None


@dataclass
class Stack:
    """The daemon's parts in this process; ``statements`` records every SQL statement."""

    watch: Path
    engine: Engine
    service: ImportService
    queue: PathQueue
    watcher: DirectoryWatcher
    thread: ImporterThread
    only: PathFilter
    statements: list[tuple[str, str]] = field(default_factory=list)
    barriers: int = 0

    def rescan(self) -> int:
        return rescan(self.queue, self.watcher, "periodic", self.only)

    def rescan_and_drain(self) -> int:
        """A rescan, then wait until the importer has done everything it queued: a new
        file named to sort last is queued last, and the queue is FIFO."""
        self.barriers += 1
        barrier = write_csv(self.watch / f"zz-barrier-{self.barriers:03d}.csv", make_rows(1))
        queued = self.rescan()
        wait_for(lambda: _trades(self.engine, barrier), 1, what="the barrier file imported")
        return queued - 1


@pytest.fixture
def stack(tmp_path: Path, engine: Engine) -> Iterator[Stack]:
    watch = tmp_path / "watch"
    watch.mkdir()
    settings = _settings(tmp_path)
    service = ImportService(engine, settings)
    service.load_known()
    queue = PathQueue()
    watcher = DirectoryWatcher(watch, queue)
    thread = ImporterThread(service=service, queue=queue, watcher=watcher, settings=settings)
    only = _rescan_filter(service.known, watcher, archiving=False)  # as Daemon wires it
    s = Stack(watch, engine, service, queue, watcher, thread, only)

    @event.listens_for(engine, "before_cursor_execute")
    def record(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        s.statements.append((statement, repr(params)))

    thread.start()
    yield s
    thread.stop()
    thread.join(10)
    assert not thread.is_alive()


@pytest.mark.daemon
def test_a_rescan_of_unchanged_files_does_not_touch_the_database(stack: Stack) -> None:
    """Files unchanged since their commit are not queued: no statement names them."""
    files = [write_csv(stack.watch / f"day-{i}.csv", make_rows(3, 10 * i)) for i in range(3)]
    stack.rescan_and_drain()
    assert all(_trades(stack.engine, f) == 3 for f in files)
    stack.statements.clear()
    assert stack.rescan_and_drain() == 0
    keys = [path_key(f) for f in files]
    touching = [s for s, params in stack.statements if any(k in params for k in keys)]
    assert touching == []
    loads = [s for s, _ in stack.statements if "FROM import_files" in s]
    assert len(loads) == 1  # the barrier file's own checkpoint look-up


def _append_row(path: Path) -> None:
    append(path, make_row(99).line + "\n")


def _touch(path: Path) -> None:
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def _replace_same_size(path: Path) -> None:
    """A new file (new inode) of the same size under the same name."""
    old = path.read_text()
    new_id = make_row(0).execution_id
    first_id = old.splitlines()[1].split(",")[5]
    tmp = path.with_name(".replacing")
    tmp.write_text(old.replace(first_id, new_id))
    os.replace(tmp, path)


def _rewrite_same_size(path: Path) -> None:
    """The same inode rewritten in place, same size, one ID changed, a new mtime."""
    old = path.read_text()
    first_id = old.splitlines()[1].split(",")[5]
    before = os.stat(path)
    with open(path, "r+", encoding="utf-8") as f:
        f.write(old.replace(first_id, make_row(0).execution_id))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))


def _rewrite_keeping_mtime(path: Path) -> None:
    """The same inode rewritten in place, same size, one ID changed, the mtime set back to
    what it was (``cp -p``, ``touch -r``, some sync tools): only the ctime tells."""
    before = os.stat(path)
    _rewrite_same_size(path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


@pytest.mark.daemon
@pytest.mark.parametrize(
    ("change", "new_rows"),
    [
        (_append_row, 1),
        (_touch, 0),
        (_replace_same_size, 1),
        (_rewrite_same_size, 1),
        (_rewrite_keeping_mtime, 1),
    ],
    ids=["size", "mtime", "inode", "same-size-rewrite", "rewrite-mtime-kept"],
)
def test_a_file_changed_between_two_rescans_is_imported(
    stack: Stack, change: Any, new_rows: int
) -> None:
    """Size, mtime, inode or a same-size rewrite with a new mtime: the next rescan queues
    the file and the importer reads what changed."""
    path = write_csv(stack.watch / "day.csv", make_rows(3))
    stack.rescan_and_drain()
    assert _trades(stack.engine, path) == 3
    change(path)
    st = os.stat(path)
    assert stack.rescan_and_drain() == 1
    cp = _checkpoint(stack.engine, path)
    assert cp is not None
    assert (cp["inode"], cp["size"], cp["mtime_ns"]) == (st.st_ino, st.st_size, st.st_mtime_ns)
    assert _trades(stack.engine, path) == 3 + new_rows


def test_import_reads_a_same_size_rewrite_whose_mtime_was_set_back(
    tmp_path: Path, engine: Engine
) -> None:
    """``import`` (no rescan filter): the checkpoint's size and mtime equal the file's, its
    ctime does not, so the content is checked and the new execution read."""
    service = ImportService(engine, _settings(tmp_path))
    path = write_csv(tmp_path / "day.csv", make_rows(3))
    assert service.import_file(path, final_line_ok=True).inserted == 3
    _rewrite_keeping_mtime(path)
    again = service.import_file(path, final_line_ok=True)
    assert again.status == ImportStatus.IMPORTED
    assert again.inserted == 1
    cp = _checkpoint(engine, path)
    assert cp is not None
    assert cp["ctime_ns"] == os.stat(path).st_ctime_ns
    # Unchanged since: the next look costs a stat and compares equal, nothing is read.
    assert service.import_file(path, final_line_ok=True).status == ImportStatus.UNCHANGED


@pytest.mark.daemon
def test_a_renamed_file_is_queued_and_keeps_its_checkpoint(stack: Stack) -> None:
    """A rename is a new path with a known inode: queued, adopted, nothing read again."""
    old = write_csv(stack.watch / "day.csv", make_rows(3))
    stack.rescan_and_drain()
    new = old.with_name("renamed.csv")
    old.rename(new)
    assert stack.rescan_and_drain() == 1
    assert _checkpoint(stack.engine, old) is None
    assert _checkpoint(stack.engine, new) is not None
    assert _trades(stack.engine, old) == 3  # rows keep their source; none read twice
    assert _trades(stack.engine) == 3 + stack.barriers


def test_a_file_with_a_pending_half_line_is_never_filtered_out(
    tmp_path: Path, engine: Engine
) -> None:
    """A checkpoint with pending bytes leaves the decision to the daemon's settle logic:
    neither the filter kept in memory nor the one loaded at start skips the file."""
    service = ImportService(engine, _settings(tmp_path))
    path = write_csv(tmp_path / "day.csv", make_rows(2))
    append(path, make_row(50).line[:20])
    result = service.import_file(path, final_line_ok=False)
    assert result.pending_bytes == 20
    assert service.known.changed([path]) == [path]
    restarted = ImportService(engine, _settings(tmp_path))
    assert restarted.load_known() == 1
    assert restarted.known.changed([path]) == [path]
    done = write_csv(tmp_path / "done.csv", make_rows(2, 10))
    service.import_file(done)
    assert service.known.changed([path, done]) == [path]


# -- group commits -------------------------------------------------------------------------


def test_a_group_commit_keeps_each_files_checkpoint_with_its_rows(
    tmp_path: Path, engine: Engine
) -> None:
    """Small files share one commit; a refused and a vanished file among them do not
    take the others' rows, and every good file has its rows and its checkpoint."""
    service = ImportService(engine, _settings(tmp_path))
    good = [write_csv(tmp_path / f"good-{i}.csv", make_rows(4, 10 * i)) for i in range(3)]
    refused = tmp_path / "trades-grid.csv"
    refused.write_text("Trade number,Instrument,Account,Strategy\n1,MNQ,SIM,x\n")
    gone = tmp_path / "gone.csv"
    commits: list[int] = []
    event.listen(engine, "commit", lambda _conn: commits.append(1))
    paths = [good[0], refused, good[1], gone, good[2]]
    results = dict(service.import_many(paths))
    assert len(commits) == 1
    assert [results[p].status for p in paths] == [
        ImportStatus.IMPORTED,
        ImportStatus.REFUSED,
        ImportStatus.IMPORTED,
        ImportStatus.ERROR,
        ImportStatus.IMPORTED,
    ]
    for path in good:
        cp = _checkpoint(engine, path)
        assert cp is not None
        assert cp["offset"] == path.stat().st_size
        assert _trades(engine, path) == 4 == results[path].inserted
    refused_cp = _checkpoint(engine, refused)
    assert refused_cp is not None
    assert refused_cp["status"] == "refused"
    assert _trades(engine) == 12


def test_a_group_commits_once_it_holds_batch_size_rows(tmp_path: Path, engine: Engine) -> None:
    """A group's transaction stays bounded by batch_size rows, counting the open file's."""
    settings = dataclasses.replace(_settings(tmp_path), batch_size=5)
    service = ImportService(engine, settings)
    big = write_csv(tmp_path / "big.csv", make_rows(20))
    small = write_csv(tmp_path / "small.csv", make_rows(3, 100))
    commits: list[int] = []
    event.listen(engine, "commit", lambda _conn: commits.append(1))
    results = dict(service.import_many([big, small]))
    # The big file's own commit (it filled the group), then the group's, then the next's.
    assert len(commits) == 3
    assert (results[big].inserted, results[small].inserted) == (20, 3)
    assert _trades(engine) == 23
    for path in (big, small):
        cp = _checkpoint(engine, path)
        assert cp is not None
        assert cp["offset"] == path.stat().st_size


def _poison(engine: Engine, execution_id: str) -> None:
    """A real database failure for one row: a trigger that aborts its insert."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TRIGGER poison BEFORE INSERT ON trades "
                f"WHEN NEW.execution_id = '{execution_id}' "
                "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
            )
        )


def test_a_failure_in_a_group_rolls_it_back_and_counts_nothing(
    tmp_path: Path, engine: Engine
) -> None:
    """An exception mid-group: nothing of the group is committed or handed out."""
    service = ImportService(engine, _settings(tmp_path))
    bad_rows = make_rows(2, 100)
    _poison(engine, bad_rows[1].execution_id)
    a = write_csv(tmp_path / "a.csv", make_rows(2))
    bad = write_csv(tmp_path / "bad.csv", bad_rows)
    c = write_csv(tmp_path / "c.csv", make_rows(2, 50))
    handed_out: list[Path] = []
    results = service.import_many([a, bad, c])
    with pytest.raises(IntegrityError):
        handed_out.extend(path for path, _result in results)
    assert handed_out == []
    assert _trades(engine) == 0
    assert _checkpoint(engine, a) is None
    assert not service.checkpoints.engine.pool.checkedout()  # type: ignore[attr-defined]  # the session is closed


def test_files_a_mid_group_commit_made_durable_are_still_handed_out(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file read in several batches commits the group part way (it holds batch_size rows);
    a failure later in that file rolls back only what came after, and the files that commit
    made durable are still handed out with their counts."""
    monkeypatch.setattr(reader, "BLOCK_BYTES", 200)  # a block per row or two: several batches
    settings = dataclasses.replace(_settings(tmp_path), batch_size=3)
    service = ImportService(engine, settings)
    b_rows = make_rows(6, 100)
    _poison(engine, b_rows[5].execution_id)
    a = write_csv(tmp_path / "a.csv", make_rows(2))
    b = write_csv(tmp_path / "b.csv", b_rows)
    handed_out: list[tuple[Path, int]] = []
    with pytest.raises(IntegrityError):
        handed_out.extend((path, r.inserted) for path, r in service.import_many([a, b]))
    assert handed_out == [(a, 2)]
    assert _trades(engine, a) == 2
    assert _checkpoint(engine, a) is not None


def test_a_group_keeps_round_trips_equal_to_a_rebuild(tmp_path: Path, engine: Engine) -> None:
    """Round trips refreshed once per group commit equal a rebuild from trades."""
    service = ImportService(engine, _settings(tmp_path))
    paths = [write_csv(tmp_path / f"day-{i}.csv", make_rows(5, 10 * i)) for i in range(4)]
    assert len(dict(service.import_many(paths))) == 4
    assert _trades(engine) == 20
    stored = stored_round_trips(engine)
    assert stored  # the rows open and close positions
    with engine.begin() as conn:
        rebuild_round_trips(conn, service.writers.point_values)
    assert normalized(stored_round_trips(engine)) == normalized(stored)


@pytest.mark.daemon
def test_the_importer_redoes_a_failed_group_file_by_file(stack: Stack) -> None:
    """The daemon's thread: the other files of a failed group are imported alone."""
    stack.thread.stop()
    stack.thread.join(10)
    queue = PathQueue()
    thread = ImporterThread(
        service=stack.service, queue=queue, watcher=stack.watcher, settings=stack.service.settings
    )
    bad_rows = make_rows(2, 100)
    _poison(stack.engine, bad_rows[0].execution_id)
    a = write_csv(stack.watch / "a.csv", make_rows(2))
    bad = write_csv(stack.watch / "bad.csv", bad_rows)
    c = write_csv(stack.watch / "c.csv", make_rows(2, 50))
    for path in (a, bad, c):
        queue.put(path)  # queued together, before the thread runs: one group
    thread.start()
    try:
        wait_for(lambda: (_trades(stack.engine, a), _trades(stack.engine, c)), (2, 2))
        assert _checkpoint(stack.engine, a) is not None
        assert _checkpoint(stack.engine, c) is not None
        assert _checkpoint(stack.engine, bad) is None
        assert _trades(stack.engine, bad) == 0
    finally:
        thread.stop()
        thread.join(10)


_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from csv_import_daemon.config.settings import load_settings
    from csv_import_daemon.db.engine import make_engine
    from csv_import_daemon.importing.service import ImportService

    db, folder = sys.argv[1], Path(sys.argv[2])
    settings = load_settings(
        {"database_url": f"sqlite:///{db}", "source_timezone": "UTC", "instance_name": "test"},
        environ={},
    )
    service = ImportService(make_engine(settings), settings)
    for _ in service.import_many(sorted(folder.iterdir())):
        pass
    """
)


def test_kill_9_during_group_commits_leaves_every_file_whole_or_untouched(
    tmp_path: Path, engine: Engine
) -> None:
    """Killed mid-catch-up: each file has its checkpoint and all its rows, or neither."""
    folder = tmp_path / "many"
    folder.mkdir()
    files = [write_csv(folder / f"f{i:04d}.csv", make_rows(5, 10 * i)) for i in range(800)]
    db = tmp_path / "journal.sqlite3"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(db), str(folder)])
    try:
        wait_for(lambda: _count(db) > 0 or child.poll() is not None, True, timeout=120)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(30)
    with sqlite3.connect(db) as conn:
        rows = dict(conn.execute("SELECT source_file, count(*) FROM trades GROUP BY 1"))
        saved = {p for (p,) in conn.execute("SELECT path FROM import_files")}
    assert rows, "the child was killed before its first commit"
    for path in files:
        key = path_key(path)
        assert (key in saved) == (key in rows), key
        assert rows.get(key, 5) == 5, key


def _count(db: Path) -> int:
    with sqlite3.connect(db, timeout=5) as conn:
        return int(conn.execute("SELECT count(*) FROM trades").fetchone()[0])
