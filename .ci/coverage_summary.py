"""Branch coverage of the last test run, in total and per package (no threshold).

Reads coverage.py's data file (``.coverage``, written by ``pytest --cov``) and prints one
line per package of csv_import_daemon: statements and branches covered, and the percentage
coverage.py itself reports (statements and branches together). The per-file report is
too long to read in a CI log.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "coverage.json"
        done = subprocess.run(
            [sys.executable, "-m", "coverage", "json", "-q", "-o", str(out)],
            check=False,
        )
        if done.returncode != 0:
            print("coverage: no data (did the tests run with --cov?)")
            return 1
        files = json.loads(out.read_text(encoding="utf-8"))["files"]
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for name, data in files.items():
        parts = Path(name).parts
        inner = (
            parts[parts.index("csv_import_daemon") + 1 :] if "csv_import_daemon" in parts else parts
        )
        package = inner[0] if len(inner) > 1 else "(top level)"
        s = data["summary"]
        for key in (package, "TOTAL"):
            total = sums[key]
            total[0] += s["covered_lines"]
            total[1] += s["num_statements"]
            total[2] += s.get("covered_branches", 0)
            total[3] += s.get("num_branches", 0)
    print(f"{'coverage (branch)':<20}{'statements':>16}{'branches':>16}{'cover':>8}")
    for key in [*sorted(k for k in sums if k != "TOTAL"), "TOTAL"]:
        lines, statements, taken, branches = sums[key]
        percent = 100.0 * (lines + taken) / max(1, statements + branches)
        print(f"{key:<20}{f'{lines}/{statements}':>16}{f'{taken}/{branches}':>16}{percent:>7.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
