"""The layer contracts in pyproject.toml (run by ``./run lint``) hold and can fail.

import-linter reads the package from the import path, so a copy of the source with one
deliberate upward import, put first on PYTHONPATH, must break the contract.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "csv_import_daemon"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_imports(source_root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(source_root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(ROOT / "pyproject.toml")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _copy_with(tmp_path: Path, module: str, line: str) -> Path:
    shutil.copytree(PACKAGE, tmp_path / "csv_import_daemon")
    target = tmp_path / "csv_import_daemon" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    return tmp_path


def test_the_package_keeps_its_layers() -> None:
    """Today's source keeps every contract."""
    result = _lint_imports(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "line", "message"),
    [
        # A lower package reaching up (a lazy import inside a function counts too).
        (
            "trips/fifo.py",
            "def _up() -> None:\n    from csv_import_daemon.importing import service  # noqa",
            "csv_import_daemon.trips is not allowed to import csv_import_daemon.importing",
        ),
        # The two packages on one level stay independent of each other.
        (
            "reports/audit.py",
            "from csv_import_daemon.daemon import backoff  # noqa",
            "csv_import_daemon.reports is not allowed to import csv_import_daemon.daemon",
        ),
        # An import seen only by the type checker still counts.
        (
            "errors.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from csv_import_daemon.config import settings  # noqa",
            "csv_import_daemon.errors is not allowed to import csv_import_daemon.config",
        ),
    ],
)
def test_an_upward_import_breaks_the_layers(
    tmp_path: Path, module: str, line: str, message: str
) -> None:
    """A copy of the source with one upward import fails the check, naming the two layers."""
    result = _lint_imports(_copy_with(tmp_path, module, line))
    assert result.returncode == 1, result.stdout + result.stderr
    assert message in result.stdout
