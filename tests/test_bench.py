"""Smoke test of the benchmark (``benchmarks/bench.py``, run by path as ``./run bench``
does): it runs end to end on a tiny N and reports every figure; the rows it generates.

No timing is asserted here (issue 6: measure in the benchmark, not in timed tests).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from support.rows import HEADER, ExecutionGenerator, write_export

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"

FIGURE_KEYS = {
    "a_cold_import_sqlite",
    "b_naive_reference",
    "c_sqlite_shell_import",
    "d_reread_all_duplicates",
    "e_unchanged_file",
    "f_append_one_row",
    "g_daemon_latency",
    "h_peak_memory",
    "i_cold_import_postgres",
}
STATUSES = {"measured", "skipped", "unavailable", "error"}


def test_generated_rows_look_like_a_grid_export(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    write_export(path, ExecutionGenerator(7), 500)
    data = path.read_bytes()
    assert data.count(b"\r\n") == 501
    assert b"\n" not in data.replace(b"\r\n", b"")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == HEADER.split(",")
    body = rows[1:]
    assert all(len(r) == 15 and r[-1] == "" for r in body)
    ids = [r[5] for r in body]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert len({r[12] for r in body}) > 2
    assert len({r[0] for r in body}) > 2
    assert all(r[10].startswith("$") for r in body)
    # Same seed, same data: the benchmark is reproducible.
    again = tmp_path / "y.csv"
    write_export(again, ExecutionGenerator(7), 500)
    assert again.read_bytes() == data


def test_benchmark_runs_with_tiny_n_and_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--rows",
            "2000",
            "--appends",
            "5",
            "--repeat",
            "2",
            "--process-repeat",
            "1",
            "--daemon-timeout",
            "30",
            "--workdir",
            str(tmp_path / "work"),
            "--out",
            str(out),
            "--skip",
            "i",
        ],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
        cwd=tmp_path,  # not the checkout: the script finds its support modules itself
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    figures = report["figures"]
    assert set(figures) == FIGURE_KEYS
    assert all(f["status"] in STATUSES for f in figures.values())
    assert figures["i_cold_import_postgres"]["status"] == "skipped"
    # The parts that need only this checkout and SQLite produce their numbers.
    for key, fields in {
        "a_cold_import_sqlite": ("rows_per_s", "seconds", "maxrss_mib"),
        "b_naive_reference": ("rows_per_s",),
        "d_reread_all_duplicates": ("rows_per_s",),
        "e_unchanged_file": ("in_process_ms", "process_ms"),
        "f_append_one_row": ("in_process_ms", "process_ms"),
        "h_peak_memory": ("maxrss_mib", "quarter_maxrss_mib"),
    }.items():
        assert figures[key]["status"] == "measured", figures[key]
        for field in fields:
            assert isinstance(figures[key][field], int | float), (key, field)
    g = figures["g_daemon_latency"]
    if g["status"] == "measured":
        assert "median_ms" in g
        assert "p95_ms" in g
    assert report["meta"]["rows"] == 2000
    assert {row["figure"][:3] for row in report["checks"]} >= {f"({k})" for k in "abcdefghi"}
    assert "(a)/(b)" in proc.stdout


def test_the_benchmark_is_not_in_the_installed_package() -> None:
    """The benchmark lives in benchmarks/, outside every package the wheel installs."""
    from setuptools import find_packages  # noqa: PLC0415

    import csv_import_daemon  # noqa: PLC0415

    # setup.py ships what find_packages finds under src/ (plus the mapped migrations).
    packages = find_packages(str(BENCH.parent.parent / "src"))
    assert "csv_import_daemon.cli" in packages  # the discovery itself works
    assert all("bench" not in p for p in packages)
    assert not (Path(csv_import_daemon.__file__).parent / "bench.py").exists()
    assert BENCH.exists()
