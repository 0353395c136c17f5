"""The command line as a subprocess, in a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

CLI: tuple[str, ...] = (sys.executable, "-m", "csv_import_daemon")
# Settings and supervisor hand-offs that would leak from the caller's environment.
_SCRUBBED_PREFIXES = ("CSV_IMPORT_", "NOTIFY_SOCKET", "WATCHDOG_")
_SCRUBBED = {"STATE_DIRECTORY"}


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any CSV_IMPORT_* setting, systemd's NOTIFY_SOCKET,
    WATCHDOG_* and STATE_DIRECTORY, plus ``extra``: runs are reproducible wherever they run."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_SCRUBBED_PREFIXES) and k not in _SCRUBBED
    }
    # No user configuration file is found unless a test writes one (a folder never made).
    env["XDG_CONFIG_HOME"] = os.path.join(tempfile.gettempdir(), "csv-import-tests-no-config")
    env.update(extra or {})
    return env


def run_cli(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
    command: Sequence[str] = CLI,
) -> subprocess.CompletedProcess[str]:
    """``csv-import-daemon ARGS`` to its end: exit code, stdout and stderr as text."""
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
