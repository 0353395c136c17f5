"""The test session's own home: no user or system configuration, no user state.

A developer's machine may have the product configured (``~/.config/csv-import-daemon/``,
``/etc/csv-import-daemon/config.toml``, ``CSV_IMPORT_*`` in the shell): the tests must
not read any of it, nor write to the user's state folder. ``isolate`` points ``HOME``, the
``XDG_*`` folders and the system configuration file at a fresh folder and drops every
``CSV_IMPORT_*`` setting from the environment (the tests' own switches stay).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

# Switches for the test run itself, not settings of the product.
TEST_SWITCHES = ("CSV_IMPORT_TEST_", "CSV_IMPORT_REQUIRE_POSTGRES")
SYSTEM_CONFIG_ENV = "CSV_IMPORT_SYSTEM_CONFIG"
# Supervisor hand-offs that would make a test process talk to a real systemd.
SUPERVISOR = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "STATE_DIRECTORY")


def home_environment(home: Path) -> dict[str, str]:
    """The variables that send every lookup of the product (and of XDG) into ``home``."""
    return {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        # A file never made: no system-wide configuration is read.
        SYSTEM_CONFIG_ENV: str(home / "etc" / "csv-import-daemon" / "config.toml"),
    }


def is_product_setting(name: str) -> bool:
    return name.startswith("CSV_IMPORT_") and not name.startswith(TEST_SWITCHES)


def isolate(environ: MutableMapping[str, str], home: Path) -> dict[str, str | None]:
    """Change ``environ`` in place; returns what to put back (None: remove)."""
    saved: dict[str, str | None] = {}
    for name in [n for n in environ if is_product_setting(n) or n in SUPERVISOR]:
        saved[name] = environ.pop(name)
    for name, value in home_environment(home).items():
        saved.setdefault(name, environ.get(name))
        environ[name] = value
    return saved


def restore(environ: MutableMapping[str, str], saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value


def new_home() -> Path:
    """A fresh, empty home folder for one test session."""
    return Path(tempfile.mkdtemp(prefix="csv-import-tests-home-"))


def check_isolated(environ: MutableMapping[str, str] | None = None) -> None:
    """Fail loudly if the environment lost its isolation (a test replaced it)."""
    env = os.environ if environ is None else environ
    home = env.get("HOME", "")
    assert Path(home).name.startswith("csv-import-tests-home-"), f"HOME is {home!r}"
    assert env.get("XDG_CONFIG_HOME", "").startswith(home)
    assert env.get(SYSTEM_CONFIG_ENV, "").startswith(home)
    leaked = sorted(n for n in env if is_product_setting(n) and n != SYSTEM_CONFIG_ENV)
    assert not leaked, f"product settings in the test environment: {leaked}"
