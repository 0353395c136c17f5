"""The watching daemon: lifecycle, the main loop and the one writer thread.

``lifecycle`` starts and stops everything in order; the ``main_loop`` runs the main
thread's periodic duties one ``step(now)`` at a time; the ``watcher`` turns watchdog
events into queued paths; the ``importer_thread`` is the only database writer (with
``path_state``, ``path_timers``, ``db_outage``, ``backoff`` and the ``archiver``);
``notify`` speaks systemd's protocol and ``metrics``/``metrics_http`` serve what the
daemon has done.
"""
