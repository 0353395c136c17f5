"""Waiting with deadlines: poll until a value is what is expected, or stays so."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT = 20.0
POLL = 0.05


def wait_for(
    fn: Callable[[], T],
    expected: T | Callable[[T], bool],
    timeout: float = DEFAULT_TIMEOUT,
    what: str = "",
) -> T:
    """Poll ``fn`` every 50 ms until it equals ``expected`` (or satisfies it); return it."""
    check: Callable[[T], bool] = (
        expected if callable(expected) else (lambda v: v == expected)  # type: ignore[assignment]
    )
    deadline = time.monotonic() + timeout
    value = fn()
    while not check(value):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {what or fn}: "
                f"last value {value!r}, expected {expected!r}"
            )
        time.sleep(POLL)
        value = fn()
    return value


def assert_stays(fn: Callable[[], T], expected: T, duration: float, what: str = "") -> None:
    """``fn`` keeps returning ``expected`` for ``duration`` seconds (polled every 50 ms)."""
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        value = fn()
        assert value == expected, f"{what or fn} changed to {value!r}, expected {expected!r}"
        time.sleep(POLL)
