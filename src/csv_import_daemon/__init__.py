"""Import NinjaTrader 8 execution exports into a journal database exactly once."""

__version__ = "0.2.0"
