"""What the tests and the benchmarks share: rows, subprocesses, the notify socket, databases.

- ``rows``: NinjaTrader execution rows and CSV files (simple numbered rows for tests, a
  seeded realistic stream for benchmarks), and the grid export's ``HEADER``;
- ``waiting``: ``wait_for`` and ``assert_stays``, polling with deadlines;
- ``processes``: a clean environment and the CLI as a subprocess;
- ``notify``: a ``NOTIFY_SOCKET`` listener standing in for systemd;
- ``daemon``: ``DaemonProcess``, the daemon as a subprocess, with ``wait_idle``;
- ``journal``: a read-only view of the database the daemon writes;
- ``postgres``: fresh PostgreSQL databases per test, empty or migrated from a template;
- ``scripted``: a scripted stand-in for the import service, for the importer thread.

The benchmarks import this package too (``benchmarks/bench.py`` puts ``tests/`` on
``sys.path``), so the modules import only the standard library, SQLAlchemy and the project.
"""
