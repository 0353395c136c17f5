"""Memory of one import bounded by bytes, not only by rows: lines just under the 1 MiB
line limit, the worst input the reader accepts, in a real ``import`` subprocess (wait4's
peak resident size)."""

from __future__ import annotations

import sys
from pathlib import Path

from csv_import_daemon.files.reader import MAX_LINE_BYTES, Chunk
from csv_import_daemon.parsing.batches import BATCH_CHARS, batches
from support.journal import sqlite_url
from support.processes import CLI, run_child
from support.rows import HEADER, make_row

LINES = 120
# Linux keeps a process's peak RSS across exec, so a child forked from a large pytest
# process reports pytest's size (226 MiB in the full suite): a small Python forks the
# import and reports its children's peak instead.
MEASURED = (
    sys.executable,
    "-c",
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print(f'maxrss_kib={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}'); "
    "sys.exit(code)",
)
# The bound README states for the worst allowed input; this file peaked at about 85 MiB
# (and at 190 MiB when batches were bounded by rows only).
PEAK_MIB = 150


def test_batches_end_at_the_character_bound() -> None:
    """Ten 1 MB lines in one chunk each: a batch ends once it holds BATCH_CHARS, far
    before the row count; short lines still fill a batch by rows."""
    big = [Chunk(first=i + 2, texts=["x" * 1_000_000], end=(i + 1) * 1_000_001) for i in range(10)]
    sizes = [len(b.texts) for b in batches(big, 10_000)]
    assert sizes == [5, 5]
    assert all(sum(map(len, b.texts)) <= BATCH_CHARS + 1_000_000 for b in batches(big, 10_000))
    small = [Chunk(first=2 + 100 * i, texts=["y" * 100] * 100, end=i) for i in range(30)]
    assert [len(b.texts) for b in batches(small, 1000)] == [1000, 1000, 1000]


def test_lines_just_under_the_limit_keep_import_memory_bounded(tmp_path: Path) -> None:
    """120 lines of just under 1 MiB (an order name that long: each a rejected row): the
    one-shot import's peak RSS stays under PEAK_MIB, and every line is recorded."""
    path = tmp_path / "long-lines.csv"
    with path.open("w", encoding="ascii") as f:
        f.write(HEADER + "\n")
        for i in range(LINES):
            fields = make_row(i).line.split(",")
            fields[9] = "N" * (MAX_LINE_BYTES - 400)
            f.write(",".join(fields) + "\n")
    url = sqlite_url(tmp_path)
    run = run_child([*MEASURED, *CLI, "import", str(path), "--database", url], tmp_path, "import")
    assert run.returncode == 0, run.stderr_tail
    assert f"rejected={LINES}" in run.stdout
    peak_mib = int(run.stdout.rsplit("maxrss_kib=", 1)[1]) / 1024
    assert peak_mib < PEAK_MIB, f"peak RSS {peak_mib:.0f} MiB"
