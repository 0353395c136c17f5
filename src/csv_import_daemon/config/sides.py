"""Buy or sell: the action words NinjaTrader writes and the side each one moves a position.

The one home of that vocabulary: the parser accepts exactly the words ``side_of`` knows,
``action_aliases`` may map only to ``ACTIONS``, and round trips sign quantities with ``Side``.
"""

from __future__ import annotations

from enum import IntEnum


class Side(IntEnum):
    """+1 a buy, -1 a sell: ``side * quantity`` is the change of the position."""

    BUY = 1
    SELL = -1


# The actions as NinjaTrader writes them; looked up first, before the folded spelling.
ACTIONS: dict[str, Side] = {
    "Buy": Side.BUY,
    "Sell": Side.SELL,
    "BuyToCover": Side.BUY,
    "SellShort": Side.SELL,
}
_FOLDED = {word.lower(): side for word, side in ACTIONS.items()}


def side_of(action: str) -> Side | None:
    """The side of an action in any case or spacing ("Buy to cover"); None if unknown."""
    side = ACTIONS.get(action)
    return side if side is not None else _FOLDED.get(action.replace(" ", "").lower())
