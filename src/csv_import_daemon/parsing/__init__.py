"""Text -> ``Execution`` or ``RowError``: pure, no I/O, no database.

A header becomes a column ``layout``; each line is read by the ``row_parser`` with the
file's ``decimal_mark`` and date order (``fields`` reads numbers and local times);
``rejections`` words the reasons a row is refused; ``batches`` cuts a block of lines into
rows within the column ``limits``. What a row gives is defined in ``execution``, a file
without IDs gets its rows' IDs from ``stand_ins``.
"""
