"""Retry delays that double from a first value up to a cap: one rule for every retry."""

from __future__ import annotations


class Backoff:
    """``next()`` gives ``first``, then twice that, and so on, never more than ``cap``;
    ``reset()`` starts from ``first`` again (after a success)."""

    __slots__ = ("_next", "cap", "first")

    def __init__(self, first: float, cap: float) -> None:
        if first <= 0 or cap < first:
            raise ValueError(f"backoff needs 0 < first <= cap, got first={first} cap={cap}")
        self.first = first
        self.cap = cap
        self._next = first

    def next(self) -> float:
        """The delay to wait now; the following call gives the doubled one."""
        delay = self._next
        self._next = min(delay * 2, self.cap)
        return delay

    def reset(self) -> None:
        self._next = self.first
