"""Commands load only what they use: --version and --help nothing heavy, reading commands
neither Alembic nor the daemon's libraries (speed is measured in benchmarks/, not here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support.processes import clean_env

# Libraries a command pays for at start: the first two only when it touches the journal,
# the rest only when it migrates or runs the daemon.
DATABASE = {"sqlalchemy", "structlog"}
DAEMON_ONLY = {"alembic", "watchdog", "prometheus_client", "tqdm"}

_PROBE = """
import json, sys
from csv_import_daemon.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
loaded = sorted({m.split(".")[0] for m in sys.modules})
print(json.dumps({"code": code, "loaded": loaded}), file=sys.stderr)
"""


def _loaded(tmp_path: Path, *args: str) -> tuple[object, set[str]]:
    """Run the command line in a fresh interpreter; the top-level packages it imported."""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        cwd=tmp_path,
        env=clean_env({"HOME": str(tmp_path)}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    return report["code"], set(report["loaded"])


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_import_nothing_heavy(tmp_path: Path, flag: str) -> None:
    """The top-level flags answer from the parser alone: no database, logging or daemon code."""
    code, loaded = _loaded(tmp_path, flag)
    assert code == 0
    assert loaded & (DATABASE | DAEMON_ONLY) == set()


@pytest.mark.parametrize("command", [["status"], ["pnl"], ["round-trips"], ["db", "current"]])
def test_reading_commands_load_neither_alembic_nor_the_daemon(
    tmp_path: Path, command: list[str]
) -> None:
    """status, pnl, round-trips and db current on a migrated journal check the schema with
    one query: Alembic, watchdog, prometheus_client and tqdm stay unloaded."""
    url = f"sqlite:///{tmp_path / 'journal.sqlite3'}"
    code, _ = _loaded(tmp_path, "db", "upgrade", "--database", url)
    assert code == 0
    code, loaded = _loaded(tmp_path, *command, "--database", url)
    assert code == 0
    wanted = {"alembic"} if command[0] == "db" else set()  # `db` is Alembic's own command
    assert loaded & DAEMON_ONLY == wanted
