"""The environment a benchmark's command runs in: no user's settings, files or state.

A private home (configuration and state folders inside it), no system-wide configuration
file, and only the settings given: the figures do not depend on who runs them where.
"""

from __future__ import annotations

import os
from pathlib import Path


def isolated_env(home: Path, journal: Path, **settings: str) -> dict[str, str]:
    """``PATH`` and a private ``home``, the SQLite ``journal`` and ``settings`` as
    ``CSV_IMPORT_*`` variables (``source_timezone="UTC"`` -> ``CSV_IMPORT_SOURCE_TIMEZONE``)."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_STATE_HOME": str(home / ".state"),
        "CSV_IMPORT_SYSTEM_CONFIG": str(home / "none.toml"),
        "CSV_IMPORT_DATABASE_URL": f"sqlite:///{journal}",
        **{f"CSV_IMPORT_{name.upper()}": value for name, value in settings.items()},
    }
