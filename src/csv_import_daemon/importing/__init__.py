"""One file -> its rows and its checkpoint, committed together.

The ``service`` plans a read from the file's ``checkpoint`` (``identity`` says whether and
where reading resumes; ``conventions`` settle how the file's dates and numbers read),
freezes that in a ``plan``, then writes it through a ``file_transaction`` into the
``write_session`` it is handed: a transaction of the file's own, or one SQLite write
transaction that a ``batch_import`` shares among many small files. ``known_files`` is the
in-memory rescan filter and ``result`` what one import did.
"""
