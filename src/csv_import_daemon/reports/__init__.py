"""Read-only views of the journal: ``status`` (daemons, settings, totals, problems) and
the ``audit`` of one file against what the journal holds.
"""
