"""The importer thread's per-path states and their timers, stepped with ``now``.

A path whose last line is pending comes back once it has been quiet for ``settle``; an
unreadable one comes back with backoff. Both wait here as a due time in a heap, so nothing
runs while nothing changes. The time is always passed in (``schedule(path, due)``,
``pop_due(now)``): the thread uses its clock, tests step a fake one.
"""

from __future__ import annotations

import heapq
import itertools
from pathlib import Path

from csv_import_daemon.daemon.path_state import PathState


class PathTimers:
    """What the importer remembers per path; a path with nothing to remember has no state.

    ``count`` (paths whose timer is set) is read by the main thread for ``STATUS=``: a
    plain int, where walking the states from there would race with this thread.
    """

    def __init__(self) -> None:
        self.states: dict[Path, PathState] = {}
        self._heap: list[tuple[float, int, Path]] = []
        self._seq = itertools.count()
        self.count = 0

    def get(self, path: Path) -> PathState | None:
        return self.states.get(path)

    def state(self, path: Path) -> PathState:
        """The path's state, made when it has none."""
        state = self.states.get(path)
        if state is None:
            state = self.states[path] = PathState()
        return state

    def tidy(self, path: Path) -> None:
        """Drop a state with nothing left in it, so a long run does not collect them."""
        state = self.states.get(path)
        if state is not None and state.empty:
            del self.states[path]

    def _set_due(self, state: PathState, due: float | None) -> None:
        self.count += (due is not None) - (state.due is not None)
        state.due = due

    def schedule(self, path: Path, due: float) -> None:
        """Fire ``path`` at monotonic time ``due`` (a later call replaces an earlier)."""
        self._set_due(self.state(path), due)
        heapq.heappush(self._heap, (due, next(self._seq), path))

    def pop_due(self, now: float) -> list[Path]:
        """The paths whose timer fires at or before ``now``, in due order; timers cleared."""
        fired = []
        while self._heap and self._heap[0][0] <= now:
            due, _, path = heapq.heappop(self._heap)
            state = self.states.get(path)
            if state is not None and state.due == due:  # else replaced or forgotten
                self._set_due(state, None)
                self.tidy(path)
                fired.append(path)
        return fired

    def next_in(self, now: float) -> float | None:
        """Seconds from ``now`` until the next timer (None: no timer)."""
        return self._heap[0][0] - now if self._heap else None

    def forget(self, path: Path) -> None:
        state = self.states.pop(path, None)
        if state is not None:
            self._set_due(state, None)  # its heap entry is skipped when it comes up
