"""watchdog glue: events become queued paths, and a scan lists what the folder holds.

Events are hints: the handler only filters names and puts paths on a deduplicating queue
(no I/O, nothing that can raise), so an event storm costs one queued entry per file and an
exception can never kill the observer thread. The folder is the truth: ``scan()`` lists it
for the start-up and the periodic rescans. Whether a path may be read (a symbolic link that
leads outside the folder may not) is decided by ``accepts()`` in the importer thread.
"""

from __future__ import annotations

import errno
import os
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from csv_import_daemon.files.names import is_candidate_name
from csv_import_daemon.logs import get_logger

log = get_logger(__name__)

# Only these reach the handler; with inotify the kernel is not even asked for the rest, so
# the opens and no-write closes of our own reads never wake the daemon.
EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileAttribEvent,
    FileMovedEvent,
    FileClosedEvent,
    DirCreatedEvent,
    DirMovedEvent,
]
POLLING_INTERVAL = 1.0  # seconds between directory polls with --polling
_INOTIFY_LIMITS = (errno.ENOSPC, errno.EMFILE, errno.ENFILE, errno.ENOSYS)


class PathQueue:
    """FIFO of paths where a path already waiting is not queued again."""

    def __init__(self) -> None:
        self._items: deque[Path] = deque()
        self._queued: set[Path] = set()
        self._cond = threading.Condition()
        self._closed = False
        self._scan_requested = False

    def put(self, path: Path) -> bool:
        """Queue ``path`` unless it is already waiting; True when it was added."""
        with self._cond:
            if path in self._queued or self._closed:
                return False
            self._queued.add(path)
            self._items.append(path)
            self._cond.notify()
            return True

    def get(self, timeout: float | None = None) -> Path | None:
        """The next path; None after ``timeout`` seconds or once the queue is closed."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if not self._items or self._closed:
                return None
            path = self._items.popleft()
            self._queued.discard(path)
            return path

    def close(self) -> None:
        """Wake every waiting ``get`` and make it return None from now on."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def request_scan(self) -> None:
        """A directory appeared or moved in: its files are found by the next scan."""
        self._scan_requested = True

    def take_scan_request(self) -> bool:
        with self._cond:
            requested, self._scan_requested = self._scan_requested, False
            return requested

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, path: object) -> bool:
        return path in self._queued


class _QueueingHandler(FileSystemEventHandler):
    """Puts the path of every interesting event on the queue, and does nothing else."""

    def __init__(self, watcher: DirectoryWatcher) -> None:
        self._watcher = watcher
        self.failures = 0

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            if event.is_directory:
                if event.event_type in ("created", "moved"):
                    self._watcher.queue.request_scan()
                return
            raw = event.dest_path if event.event_type == "moved" else event.src_path
            if raw:
                path = Path(os.fsdecode(raw))
                if self._watcher.wants(path):
                    self._watcher.queue.put(path)
        except Exception:  # never let the observer thread die; the rescan catches up
            self.failures += 1


class DirectoryWatcher:
    """The observer on the watched folder (and archive month folders), restartable."""

    def __init__(
        self,
        root: Path,
        queue: PathQueue,
        *,
        recursive: bool = False,
        polling: bool = False,
        archive_dir: Path | None = None,
    ) -> None:
        self.root = Path(os.path.abspath(root))
        self.queue = queue
        self.recursive = recursive
        self.polling = polling
        self.archive_dir = Path(os.path.abspath(archive_dir)) if archive_dir else None
        self._extra: list[Path] = []  # watched non-recursively (archive month folders)
        self._lock = threading.Lock()
        self._observer: BaseObserver | None = None
        self._handler = _QueueingHandler(self)
        self._real_roots = [os.path.realpath(self.root)]
        if self.archive_dir is not None:
            self._real_roots.append(os.path.realpath(self.archive_dir))

    # -- which paths ---------------------------------------------------------------------

    def wants(self, path: Path) -> bool:
        """Name-only check, safe in the observer thread: a candidate under a watched folder."""
        if not is_candidate_name(path.name):
            return False
        parent = path.parent
        if parent == self.root or parent in self._extra:
            return True
        if not self.recursive or not parent.is_relative_to(self.root):
            return False
        if self.archive_dir is not None and path.is_relative_to(self.archive_dir):
            return False  # inside a nested archive only its watched months count
        return not any(part.startswith(".") for part in parent.relative_to(self.root).parts)

    def accepts(self, path: Path) -> bool:
        """``wants`` plus I/O: the real file lies inside the watched or the archive folder."""
        if not self.wants(path):
            return False
        return self._inside(os.path.realpath(path))

    def _inside(self, real: str) -> bool:
        return any(
            real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in self._real_roots
        )

    def is_archived(self, path: Path) -> bool:
        return self.archive_dir is not None and path.is_relative_to(self.archive_dir)

    def scan(self) -> list[Path]:
        """Every accepted file in the watched folder and the watched archive months."""
        # A file that is not a symbolic link lies where its folder really is: one
        # realpath per folder, not one per file (that was most of an idle rescan).
        folders: dict[Path, bool] = {}

        def accepted(path: Path, link: bool) -> bool:
            if link:
                return self.accepts(path)
            if not self.wants(path):
                return False
            inside = folders.get(path.parent)
            if inside is None:
                inside = folders[path.parent] = self._inside(os.path.realpath(path.parent))
            return inside

        found = [p for p, link in self._list(self.root, self.recursive) if accepted(p, link)]
        with self._lock:
            extra = list(self._extra)
        for folder in extra:
            found.extend(p for p, link in self._list(folder, False) if accepted(p, link))
        return found

    def _list(self, folder: Path, recursive: bool) -> Iterator[tuple[Path, bool]]:
        """Candidate files under ``folder``, each with whether it is a symbolic link."""
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            log.warning("scan_failed", folder=str(folder), error=exc.strerror or str(exc))
            return
        for entry in entries:
            path = folder / entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                link = entry.is_symlink()
            except OSError:
                continue
            if is_dir:
                if recursive and not entry.name.startswith(".") and path != self.archive_dir:
                    yield from self._list(path, recursive)
            elif is_candidate_name(entry.name):
                yield path, link

    # -- the observer --------------------------------------------------------------------

    def watch(self, folder: Path) -> None:
        """Also watch ``folder`` (non-recursively) from now on, across restarts."""
        folder = Path(os.path.abspath(folder))
        with self._lock:
            if folder in self._extra or folder == self.root:
                return
            self._extra.append(folder)
            observer = self._observer
        if observer is not None:
            observer.schedule(
                self._handler, str(folder), recursive=False, event_filter=EVENT_FILTER
            )

    def start(self) -> None:
        """Start an observer on every watched folder; inotify limits fall back to polling."""
        try:
            self._start()
        except OSError as exc:
            if self.polling or exc.errno not in _INOTIFY_LIMITS:
                raise
            log.warning(
                "inotify_unavailable",
                error=str(exc),
                fallback="polling",
                hint="raise fs.inotify.max_user_watches / max_user_instances or set polling = true",
            )
            self.polling = True
            self._start()

    def _start(self) -> None:
        observer: BaseObserver = (
            PollingObserver(timeout=POLLING_INTERVAL) if self.polling else Observer()
        )
        observer.daemon = True
        with self._lock:
            extra = list(self._extra)
        try:
            observer.schedule(
                self._handler, str(self.root), recursive=self.recursive, event_filter=EVENT_FILTER
            )
            for folder in extra:
                observer.schedule(
                    self._handler, str(folder), recursive=False, event_filter=EVENT_FILTER
                )
            observer.start()
        except BaseException:
            _stop_quietly(observer)
            raise
        with self._lock:
            self._observer = observer

    def is_alive(self) -> bool:
        """The observer thread and every emitter thread still run."""
        with self._lock:
            observer = self._observer
        if observer is None or not observer.is_alive():
            return False
        return all(emitter.is_alive() for emitter in observer.emitters)

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop and join the observer (and its emitters)."""
        with self._lock:
            observer, self._observer = self._observer, None
        if observer is not None:
            _stop_quietly(observer, timeout)


def _stop_quietly(observer: BaseObserver, timeout: float = 5.0) -> None:
    try:
        observer.stop()
        if observer.is_alive():
            observer.join(timeout)
    except (OSError, RuntimeError) as exc:
        log.warning("observer_stop_failed", error=str(exc))
