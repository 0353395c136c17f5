"""One file -> its rows and its checkpoint, committed together.

The ``service`` plans a read from the file's ``checkpoint`` (``identity`` says whether and
where reading resumes; ``conventions`` settle how the file's dates and numbers read),
freezes that in a ``plan``, then writes it through a ``file_transaction``; ``group``
shares one SQLite write transaction among many small files. ``known_files`` is the
in-memory rescan filter and ``result`` what one import did.
"""
