"""Backoff delays and the settle rule: the two timing rules every retry and wait shares."""

from __future__ import annotations

import pytest

from csv_import_daemon.daemon.backoff import Backoff
from csv_import_daemon.files.quiet_period import seconds_until_settled


def test_backoff_doubles_up_to_its_cap_and_resets() -> None:
    """first, 2x, 4x... never above cap; reset() starts from first again."""
    backoff = Backoff(0.5, 3.0)
    assert [backoff.next() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.next() == 0.5


@pytest.mark.parametrize(("first", "cap"), [(0.0, 1.0), (2.0, 1.0), (-1.0, 5.0)])
def test_backoff_rejects_delays_that_cannot_grow(first: float, cap: float) -> None:
    """A first delay of zero or less, or a cap below it, is a programming error."""
    with pytest.raises(ValueError, match="first"):
        Backoff(first, cap)


def test_seconds_until_settled_counts_down_to_zero() -> None:
    """Quiet for 2 of 5 s: 3 s left; quiet for exactly 5 s or longer: settled (0.0)."""
    mtime_ns = 1_000_000_000_000  # 1000 s after the epoch
    assert seconds_until_settled(mtime_ns, 5.0, 1002.0) == pytest.approx(3.0)
    assert seconds_until_settled(mtime_ns, 5.0, 1005.0) == 0.0
    assert seconds_until_settled(mtime_ns, 5.0, 2000.0) == 0.0
    assert seconds_until_settled(mtime_ns, 0.0, 1000.0) == 0.0


def test_a_file_from_the_future_is_not_settled() -> None:
    """An mtime ahead of the clock (a skewed share) waits the settle period plus the skew."""
    assert seconds_until_settled(1_010_000_000_000, 5.0, 1000.0) == pytest.approx(15.0)
