"""Bytes on disk: file names, byte-exact reading, and the quiet period.

``names`` holds the path rules (checkpoint keys, the dates file names carry), ``reader``
reads complete lines from a stored offset and says what file version it read, and
``quiet_period`` decides when a file has been quiet long enough to count as finished.
No parsing of rows and no database here.
"""
