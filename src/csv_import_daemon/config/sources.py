"""Where settings come from, named without loading them: the environment prefix and the
configuration file's variable and system path.

Kept apart from ``settings`` so the command line's top-level parser (``--version``,
``--help``) can name them without importing the settings machinery.
"""

from __future__ import annotations

from pathlib import Path

ENV_PREFIX = "CSV_IMPORT_"
CONFIG_ENV = "CSV_IMPORT_CONFIG"
SYSTEM_CONFIG = Path("/etc/csv-import-daemon/config.toml")
# Names another system-wide file instead (a staged install, a test run that must not read
# this machine's): the file is then looked for there, or nowhere when it does not exist.
SYSTEM_CONFIG_ENV = "CSV_IMPORT_SYSTEM_CONFIG"
