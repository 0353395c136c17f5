"""The command line as a subprocess, in a clean environment; a child measured (wait4)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .isolation import SYSTEM_CONFIG_ENV

CLI: tuple[str, ...] = (sys.executable, "-m", "csv_import_daemon")
# Settings and supervisor hand-offs that would leak from the caller's environment.
_SCRUBBED_PREFIXES = ("CSV_IMPORT_", "NOTIFY_SOCKET", "WATCHDOG_")
_SCRUBBED = {"STATE_DIRECTORY"}


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any CSV_IMPORT_* setting, systemd's NOTIFY_SOCKET,
    WATCHDOG_* and STATE_DIRECTORY, and with no user or system configuration file, plus
    ``extra``: runs are reproducible wherever they run."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_SCRUBBED_PREFIXES) and k not in _SCRUBBED
    }
    # No user configuration file is found unless a test writes one (a folder never made),
    # nor a system-wide one (the session's own never-made file, else one beside it).
    nowhere = os.path.join(tempfile.gettempdir(), "csv-import-tests-no-config")
    env["XDG_CONFIG_HOME"] = nowhere
    env[SYSTEM_CONFIG_ENV] = os.environ.get(SYSTEM_CONFIG_ENV) or os.path.join(
        nowhere, "system.toml"
    )
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


def journal_cli(
    database_url: str, *args: str, instance: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``csv-import-daemon ARGS`` on one journal as one instance, logging JSON lines."""
    options = ("--database", database_url, "--instance-name", instance, "--log-format", "json")
    return run_cli(*args, *options, env=env)


@dataclass(slots=True)
class ChildRun:
    """One finished subprocess: wall time, exit code, peak RSS, output."""

    seconds: float
    returncode: int
    maxrss_kib: int
    cpu_seconds: float  # user + system of that child: less sensitive to a busy machine
    stdout: str
    stderr_tail: str


def run_child(
    argv: Sequence[str],
    workdir: Path,
    label: str,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
) -> ChildRun:
    """Run ``argv`` (in ``clean_env()`` unless ``env`` is given) with its output in
    ``workdir/LABEL.stdout|stderr``; wall time from spawn to reap, CPU time and peak RSS of
    exactly that child (wait4). The benchmarks measure their commands with it."""
    out_path = workdir / f"{label}.stdout"
    err_path = workdir / f"{label}.stderr"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=err,
            env=env or clean_env(),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        )
        if stdin is not None and proc.stdin is not None:
            proc.stdin.write(stdin.encode())
            proc.stdin.close()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = err_path.read_text(errors="replace").strip().splitlines()
    return ChildRun(
        seconds,
        proc.returncode,
        int(usage.ru_maxrss),
        usage.ru_utime + usage.ru_stime,
        out_path.read_text(errors="replace"),
        "\n".join(stderr[-5:]),
    )
