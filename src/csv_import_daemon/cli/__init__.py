"""The command line: one module per command, each with ``register(sub)`` and ``handle``.

``main`` builds the parser from the command modules and is the one place that turns an
error into an exit code; ``common`` holds the shared flags, ``progress`` the terminal
progress bar.
"""
