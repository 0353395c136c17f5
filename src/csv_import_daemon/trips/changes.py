"""What one transaction changed, for its round trips: kept while it writes, used before commit.

An inserted fill is kept as the execution itself (no new object per fill): the refresh
continues the round trips with them in memory when they are all later than every fill
stored before, instead of reading them back from ``trades``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any

from csv_import_daemon.config.contracts import contract_at
from csv_import_daemon.config.sides import side_of
from csv_import_daemon.trips.fifo import FillLike

Key = tuple[str, str]  # (account, contract)
# Inserted fills kept before the transaction refreshes: one write batch (10,000 rows).
# Twice that held another 7 MiB at the peak of a bulk import for no gain in speed.
HOLD = 10_000

_WHEN = attrgetter("executed_at")


@dataclass(frozen=True, slots=True)
class Pending:
    """One refresh's work: every changed key's earliest changed fill time, and for the keys
    that may continue in memory their inserted fills, in time order."""

    earliest: dict[Key, datetime]
    fresh: dict[Key, list[FillLike]]  # the parser's executions


class TripChanges:
    """The fills one transaction inserted, and the keys it changed otherwise."""

    def __init__(self) -> None:
        self.inserted: list[Any] = []  # parser.Execution
        self.earliest: dict[Key, datetime] = {}  # other changes: recomputed from trades
        self.held = 0

    def note(self, account: str, contract: str, when: datetime) -> None:
        """A fill changed or left this key at ``when``: recompute it from ``trades``."""
        key = (account, contract)
        known = self.earliest.get(key)
        if known is None or when < known:
            self.earliest[key] = when

    def add(self, executions: Iterable[Any], inserted: set[str]) -> None:
        """Note the executions (parser.Execution) whose IDs were really inserted."""
        new = [ex for ex in executions if ex.execution_id in inserted]
        self.inserted += new
        self.held += len(new)

    def absorb(self, other: TripChanges) -> None:
        """Take over ``other``'s changes (a group commit refreshes its files together)."""
        self.inserted += other.inserted
        self.held += other.held
        for (account, contract), when in other.earliest.items():
            self.note(account, contract, when)

    def full(self) -> bool:
        """Enough fills held: refresh now, in the same transaction, so memory stays flat."""
        return self.held >= HOLD

    def drain(self) -> TripChanges:
        out = TripChanges()
        out.inserted, out.earliest, out.held = self.inserted, self.earliest, self.held
        self.inserted, self.earliest, self.held = [], {}, 0
        return out

    def pending(self) -> Pending:
        """The inserted fills per key; a key with another change is recomputed instead."""
        earliest = dict(self.earliest)
        fresh: dict[Key, list[FillLike]] = {}
        odd: set[Key] = set()  # an action round trips cannot read: the recompute logs it
        for ex in self.inserted:
            key = (ex.account, contract_at(ex.instrument, ex.executed_at))
            fills = fresh.get(key)
            if fills is None:
                fills = fresh[key] = []
            fills.append(ex)
            if side_of(ex.action) is None:
                odd.add(key)
        for key, fills in fresh.items():
            fills.sort(key=_WHEN)  # already in order, as a rule: linear
            first = fills[0].executed_at
            known = earliest.get(key)
            if known is None or first < known:
                earliest[key] = first
        for key in odd | self.earliest.keys():
            fresh.pop(key, None)
        return Pending(earliest, fresh)
