"""The currency a money cell's symbol or code names: "$0.52" -> USD, "0,52 €" -> EUR."""

from __future__ import annotations

import unicodedata

# Symbols that name one currency where NinjaTrader's users write them; "$" is read as USD
# (the platform's own currency). Any other marker is named in a rejection, never guessed.
_SYMBOLS = {"$": "USD", "US$": "USD", "€": "EUR", "£": "GBP"}


def money_currency(text: str) -> str | None:
    """The ISO code a money text's symbol or code names: "$0.52" -> "USD", "0,52 €" -> "EUR",
    "EUR 1.20" -> "EUR", "1.20" -> None (no marker). Raises ValueError with the marker when
    it names no one currency ("kr", "¥"). Only for texts ``parse_decimal`` took as money."""
    marker = "".join(c for c in text if c.isalpha() or unicodedata.category(c) == "Sc")
    if not marker:
        return None
    if marker.isascii() and len(marker) == 3 and marker.isalpha():
        return marker.upper()
    # "$$0.52" (a known export quirk) repeats the symbol.
    single = marker[0] if marker == marker[0] * len(marker) else marker
    code = _SYMBOLS.get(single)
    if code is None:
        raise ValueError(marker)
    return code
