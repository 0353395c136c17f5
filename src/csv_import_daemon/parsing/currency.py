"""The currency a money cell's symbol or code names: "$0.52" -> USD, "0,52 €" -> EUR."""

from __future__ import annotations

import unicodedata

# Symbols that name one currency where NinjaTrader's users write them; "$" is read as USD
# (the platform's own currency). Any other short marker ("kr", "¥", "R$") is kept as written,
# a currency of its own that nothing is netted with: never guessed, and no row lost.
_MARKER_WIDTH = 3  # trades.commission_currency
_SYMBOLS = {"$": "USD", "US$": "USD", "€": "EUR", "£": "GBP"}


def money_currency(text: str) -> str | None:
    """The ISO code a money text's symbol or code names: "$0.52" -> "USD", "0,52 €" -> "EUR",
    "EUR 1.20" -> "EUR", "1.20" -> None (no marker), "1,20 kr" -> "kr" (as written). Raises
    ValueError with the marker when it is too long to keep. Only for texts ``parse_decimal``
    took as money."""
    marker = "".join(c for c in text if c.isalpha() or unicodedata.category(c) == "Sc")
    if not marker:
        return None
    if marker.isascii() and len(marker) == 3 and marker.isalpha():
        return marker.upper()
    # "$$0.52" (a known export quirk) repeats the symbol.
    single = marker[0] if marker == marker[0] * len(marker) else marker
    code = _SYMBOLS.get(single)
    if code is not None:
        return code
    if len(single) > _MARKER_WIDTH:
        raise ValueError(marker)
    return single
