"""Round trips and P&L, derived from ``trades`` and kept equal to a rebuild.

``fifo`` matches fills first in, first out (pure); ``changes`` collects what one
transaction touched; ``refresh`` keeps ``round_trips`` and ``round_trip_fills`` equal to a
from-scratch FIFO inside the importer's transaction; ``sql`` holds both dialects'
statements and ``queries`` reads round trips and P&L back out for the commands.
"""
