"""The tests never read the user's configuration or state.

Proved on a machine where the product is configured: the settings and command tests run
in a pytest of their own whose HOME holds ``~/.config/csv-import-daemon/config.toml``
naming another database, zone, date order and decimal mark, with a system-wide file and
``CSV_IMPORT_*`` settings in the environment saying the same. They pass, and nothing is
written to that database or that home.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support.isolation import SYSTEM_CONFIG_ENV, check_isolated
from support.paths import REPO

# Modules whose tests read settings the way a user's command does (and failed here before).
SUBSET = ("tests/unit/config", "tests/unit/cli/test_main.py")


def _configured_machine(tmp_path: Path) -> tuple[dict[str, str], Path, Path]:
    home = tmp_path / "home"
    hostile = tmp_path / "theirs.sqlite3"
    text = (
        f'database_url = "sqlite:///{hostile}"\n'
        'source_timezone = "Asia/Tokyo"\n'
        'date_order = "dmy"\n'
        'decimal_mark = ","\n'
    )
    user_file = home / ".config" / "csv-import-daemon" / "config.toml"
    user_file.parent.mkdir(parents=True)
    user_file.write_text(text, encoding="utf-8")
    system_file = tmp_path / "etc" / "config.toml"
    system_file.parent.mkdir()
    system_file.write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "CSV_IMPORT_", "HOME"))}
    env |= {
        "HOME": str(home),
        SYSTEM_CONFIG_ENV: str(system_file),
        "CSV_IMPORT_DATABASE_URL": f"sqlite:///{hostile}",
        "CSV_IMPORT_SOURCE_TIMEZONE": "Asia/Tokyo",
    }
    return env, home, hostile


def test_the_session_runs_in_its_own_home(isolated_home: Path) -> None:
    """HOME, the XDG folders and the system file point into the session's own folder."""
    check_isolated()
    assert Path.home() == isolated_home
    assert os.environ[SYSTEM_CONFIG_ENV].startswith(str(isolated_home))
    assert not Path(os.environ[SYSTEM_CONFIG_ENV]).exists()


def test_the_tests_pass_on_a_machine_where_the_product_is_configured(tmp_path: Path) -> None:
    """A user's configuration, a system file and CSV_IMPORT_* settings change no result."""
    env, home, hostile = _configured_machine(tmp_path)
    before = sorted(p.relative_to(home) for p in home.rglob("*"))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not postgres"]
        + [str(REPO / s) for s in SUBSET],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout
    assert not hostile.exists()
    assert sorted(p.relative_to(home) for p in home.rglob("*")) == before
