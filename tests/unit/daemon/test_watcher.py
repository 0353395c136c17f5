"""Which paths the watcher queues, the deduplicating queue, and a real observer on tmp_path.

Integration tests wait on the queue with timeouts. A sentinel file written last marks the
end of a burst: events arrive in order, so once the sentinel is queued every earlier event
has been handled.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from csv_import_daemon.daemon import watcher as watcher_module
from csv_import_daemon.daemon.watcher import DirectoryWatcher, PathQueue
from csv_import_daemon.files.names import is_candidate_name

TIMEOUT = 5.0


def mark(folder: Path, name: str = "sentinel.csv") -> Path:
    """A sentinel file that appears in one event (renamed from an ignored name)."""
    tmp = folder / f".{name}.tmp"
    tmp.write_text("x\n")
    os.rename(tmp, folder / name)
    return folder / name


def drain_until(queue: PathQueue, sentinel: Path, timeout: float = TIMEOUT) -> list[Path]:
    """Wait until ``sentinel`` is queued (every earlier event is then handled), take all."""
    deadline = time.monotonic() + timeout
    while sentinel not in queue:  # not taken meanwhile: later events meet waiting entries
        assert time.monotonic() < deadline, f"{sentinel.name} never queued"
        time.sleep(0.01)
    got: list[Path] = []
    while (path := queue.get(0)) is not None:
        got.append(path)
    return got


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "watch"
    folder.mkdir()
    return folder


@pytest.fixture
def running(root: Path) -> Iterator[tuple[DirectoryWatcher, PathQueue]]:
    """A started inotify watcher on ``root``, stopped after the test."""
    queue = PathQueue()
    w = DirectoryWatcher(root, queue)
    w.start()
    yield w, queue
    w.stop()


@pytest.mark.parametrize(
    ("name", "wanted"),
    [
        ("a.csv", True),
        ("A.CSV", True),
        ("NinjaTrader_Executions_20251031.csv", True),
        (".hidden.csv", False),
        ("~$open.csv", False),
        (".~lock.a.csv#", False),
        ("a.csv.tmp", False),
        ("a.csv~", False),
        ("a.txt", False),
        (".csv", False),
        ("a.csv.part", False),
    ],
)
def test_candidate_names(name: str, wanted: bool) -> None:
    """*.csv in any case; hidden, Office/LibreOffice lock and temporary files are not."""
    assert is_candidate_name(name) is wanted


def test_queue_deduplicates_waiting_paths() -> None:
    """A path already waiting is not queued twice; once taken it can be queued again."""
    q = PathQueue()
    p = Path("/x/a.csv")
    assert q.put(p)
    assert not q.put(p)
    assert q.put(Path("/x/b.csv"))
    assert len(q) == 2
    assert q.get(0) == p
    assert q.put(p)
    assert [q.get(0), q.get(0), q.get(0)] == [Path("/x/b.csv"), p, None]


def test_queue_close_wakes_a_waiting_get() -> None:
    """close() wakes a consumer blocked without timeout, and later gets return None."""
    q = PathQueue()
    results: list[Path | None] = []
    consumer = threading.Thread(target=lambda: results.append(q.get()))
    consumer.start()
    q.close()
    consumer.join(TIMEOUT)
    assert not consumer.is_alive()
    assert results == [None]
    assert not q.put(Path("/x/a.csv"))


@pytest.mark.daemon
def test_wants_only_files_in_watched_folders(root: Path, tmp_path: Path) -> None:
    """Non-recursive: the folder itself; recursive: visible subfolders, not the archive."""
    archive = root / "archive"
    flat = DirectoryWatcher(root, PathQueue())
    deep = DirectoryWatcher(root, PathQueue(), recursive=True, archive_dir=archive)
    assert flat.wants(root / "a.csv")
    assert not flat.wants(root / "sub" / "a.csv")
    assert deep.wants(root / "sub" / "a.csv")
    assert not deep.wants(root / ".git" / "a.csv")
    assert not deep.wants(archive / "2025-10" / "a.csv")
    assert not deep.wants(tmp_path / "elsewhere.csv")
    deep.watch(archive / "2025-10")
    assert deep.wants(archive / "2025-10" / "a.csv")


@pytest.mark.daemon
def test_symlink_leading_outside_is_not_accepted(root: Path, tmp_path: Path) -> None:
    """A link to a file outside the folder is refused; one to a file inside is fine."""
    outside = tmp_path / "outside.csv"
    outside.write_text("x\n")
    inside = root / "real.csv"
    inside.write_text("x\n")
    (root / "out.csv").symlink_to(outside)
    (root / "in.csv").symlink_to(inside)
    w = DirectoryWatcher(root, PathQueue())
    assert not w.accepts(root / "out.csv")
    assert w.accepts(root / "in.csv")
    assert w.accepts(inside)


@pytest.mark.daemon
def test_scan_lists_candidates(root: Path) -> None:
    """The scan finds *.csv files; recursion is an option; hidden folders are skipped."""
    for rel in ["b.csv", "a.CSV", "notes.txt", ".h.csv", "sub/c.csv", ".git/d.csv"]:
        (root / rel).parent.mkdir(exist_ok=True)
        (root / rel).write_text("x\n")
    flat = DirectoryWatcher(root, PathQueue())
    deep = DirectoryWatcher(root, PathQueue(), recursive=True)
    assert flat.scan() == [root / "a.CSV", root / "b.csv"]
    assert sorted(deep.scan()) == [root / "a.CSV", root / "b.csv", root / "sub" / "c.csv"]


@pytest.mark.daemon
def test_scan_includes_watched_archive_months_not_the_rest(root: Path, tmp_path: Path) -> None:
    """Archive month folders being watched are part of the truth the rescan looks at."""
    archive = tmp_path / "archive"
    month = archive / "2025-10"
    month.mkdir(parents=True)
    (month / "old.csv").write_text("x\n")
    w = DirectoryWatcher(root, PathQueue(), archive_dir=archive)
    assert w.scan() == []
    w.watch(month)
    assert w.scan() == [month / "old.csv"]
    assert w.is_archived(month / "old.csv")


@pytest.mark.daemon
def test_event_storm_queues_a_file_once(
    running: tuple[DirectoryWatcher, PathQueue], root: Path
) -> None:
    """Fifty appends while nobody takes the path leave it queued once."""
    _, queue = running
    path = root / "busy.csv"
    with open(path, "a") as f:
        for i in range(50):
            f.write(f"line {i}\n")
            f.flush()
    sentinel = mark(root)
    assert drain_until(queue, sentinel) == [path, sentinel]


@pytest.mark.daemon
def test_own_reads_do_not_wake_the_daemon(
    running: tuple[DirectoryWatcher, PathQueue], root: Path
) -> None:
    """Opening and reading a file (as the importer does) queues nothing."""
    _, queue = running
    path = root / "quiet.csv"
    path.write_text("header\nrow\n")
    assert drain_until(queue, mark(root, "first.csv")) == [path, root / "first.csv"]
    for _ in range(10):
        with open(path, "rb") as f:
            f.read()
        os.stat(path)
    sentinel = mark(root)
    assert drain_until(queue, sentinel) == [sentinel]


@pytest.mark.daemon
def test_moves_into_and_within_the_folder_are_queued(
    running: tuple[DirectoryWatcher, PathQueue], root: Path, tmp_path: Path
) -> None:
    """A rename into the folder and a temp-name rename inside it queue the new name."""
    _, queue = running
    outside = tmp_path / "outside.csv"
    outside.write_text("x\n")
    os.rename(outside, root / "moved.csv")
    assert drain_until(queue, root / "moved.csv") == [root / "moved.csv"]
    tmp = root / "export.csv.tmp"
    tmp.write_text("x\n")
    os.rename(tmp, root / "export.csv")
    assert drain_until(queue, root / "export.csv") == [root / "export.csv"]


@pytest.mark.daemon
def test_hidden_and_temporary_files_are_not_queued(
    running: tuple[DirectoryWatcher, PathQueue], root: Path
) -> None:
    """Events on ignored names never reach the queue."""
    _, queue = running
    for name in [".hidden.csv", "~$lock.csv", "notes.txt", "a.csv.tmp"]:
        (root / name).write_text("x\n")
    sentinel = mark(root)
    assert drain_until(queue, sentinel) == [sentinel]


@pytest.mark.daemon
def test_new_subfolder_requests_a_scan(root: Path) -> None:
    """A folder created or moved in (recursive mode) asks the main loop for a rescan."""
    queue = PathQueue()
    w = DirectoryWatcher(root, queue, recursive=True)
    w.start()
    try:
        (root / "sub").mkdir()
        drain_until(queue, mark(root / "sub"))
        assert queue.take_scan_request()
        assert not queue.take_scan_request()
    finally:
        w.stop()


@pytest.mark.daemon
def test_polling_observer_sees_changes(root: Path) -> None:
    """--polling (network shares, Docker, WSL) reports new files too."""
    queue = PathQueue()
    w = DirectoryWatcher(root, queue, polling=True)
    w.start()
    try:
        (root / "polled.csv").write_text("x\n")
        assert queue.get(TIMEOUT) == root / "polled.csv"
    finally:
        w.stop()


@pytest.mark.daemon
def test_dead_observer_is_noticed_and_restarted(
    running: tuple[DirectoryWatcher, PathQueue], root: Path
) -> None:
    """is_alive() turns False when the observer thread dies; restart() brings events back."""
    w, queue = running
    assert w.is_alive()
    observer = w._observer
    assert observer is not None
    observer.stop()
    observer.join(TIMEOUT)
    assert not w.is_alive()
    w.restart()
    assert w.is_alive()
    (root / "after.csv").write_text("x\n")
    assert queue.get(TIMEOUT) == root / "after.csv"


@pytest.mark.daemon
def test_inotify_limit_falls_back_to_polling(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When inotify watches run out, the watcher polls instead of failing."""

    class Exhausted:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.daemon = True

        def schedule(self, *args: Any, **kwargs: Any) -> None:
            raise OSError(errno.ENOSPC, "inotify watch limit reached")

        def stop(self) -> None:
            pass

        def is_alive(self) -> bool:
            return False

    monkeypatch.setattr(watcher_module, "Observer", Exhausted)
    queue = PathQueue()
    w = DirectoryWatcher(root, queue)
    w.start()
    try:
        assert w.polling
        (root / "fallback.csv").write_text("x\n")
        assert queue.get(TIMEOUT) == root / "fallback.csv"
    finally:
        w.stop()


@pytest.mark.daemon
def test_handler_never_raises(root: Path) -> None:
    """A broken event is counted, not raised into the observer thread."""
    w = DirectoryWatcher(root, PathQueue())
    handler = w._handler

    class Broken:
        is_directory = False
        event_type = "modified"

        @property
        def src_path(self) -> str:
            raise RuntimeError("boom")

    handler.dispatch(Broken())  # type: ignore[arg-type]
    assert handler.failures == 1
