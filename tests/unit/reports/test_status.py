"""``status``: totals, per-file checkpoints and recent rejections, as a dict and as text."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db import migrate
from csv_import_daemon.db.engine import make_engine
from csv_import_daemon.files.names import path_key
from csv_import_daemon.importing.service import ImportService
from csv_import_daemon.reports.status import collect_status, render_status
from support.rows import HEADER


def _import_samples(engine: Engine, settings: Settings, samples: Path) -> ImportService:
    service = ImportService(engine, settings)
    for path in sorted(samples.iterdir()):
        service.import_file(path, final_line_ok=True)
    return service


def test_status_of_an_empty_unmigrated_database_is_all_zero(settings: Settings) -> None:
    """A database without the schema reports no revision and zero counts instead of failing."""
    engine = make_engine(settings)
    try:
        report = collect_status(engine)
    finally:
        engine.dispose()
    assert report == {
        "status_schema": 1,
        "settings": {"database": engine.url.render_as_string(hide_password=True)},
        "daemon_running": False,
        "daemons": [],
        "last_import_at": None,
        "schema_revision": None,
        "trades": 0,
        "ledger": 0,
        "rejections": 0,
        "files": [],
        "recent_rejections": [],
    }


def test_status_counts_trades_ledger_and_each_file(
    engine: Engine, settings: Settings, samples: Path
) -> None:
    """After importing the samples, status shows 14 trades, 14 ledger IDs and one row per file."""
    _import_samples(engine, settings, samples)

    report = collect_status(engine)

    assert report["schema_revision"] == migrate.head()
    assert (report["trades"], report["ledger"], report["rejections"]) == (14, 14, 0)
    by_name = {Path(f["path"]).name: f for f in report["files"]}
    assert {name: f["inserted"] for name, f in by_name.items()} == {
        "NinjaTrader_Executions_20251031.csv": 2,
        "grid-export-en-us.csv": 6,
        "grid-export-eu-semicolon.csv": 2,
        "NinjaTrader Grid 2026-08-10 06-10 PM.csv": 4,
        "trades-grid-not-executions.csv": 0,
    }
    refused = by_name["trades-grid-not-executions.csv"]
    assert refused["status"] == "refused"
    assert "Trades" in refused["last_error"]
    en_us = by_name["grid-export-en-us.csv"]
    assert en_us["status"] == "ok"
    assert en_us["offset"] == en_us["size"] == (samples / "grid-export-en-us.csv").stat().st_size
    assert en_us["pending_bytes"] == 0
    assert en_us["lines"] == 7
    assert by_name["grid-export-eu-semicolon.csv"]["date_order"] == "dmy"
    assert en_us["updated_at"].endswith("Z")


def test_status_lists_recent_rejections_newest_first_up_to_the_limit(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Rejected rows appear in status with file, line, reason and detail, newest first."""
    path = tmp_path / "bad.csv"
    rows = [
        f"MNQ MAR25,Buy,1,oops{n},1/28/2025 10:59:52 AM,id{n},Entry,-,,,$0.00,1,Sim101,X,"
        for n in range(3)
    ]
    path.write_text("\r\n".join([HEADER, *rows]) + "\r\n")
    ImportService(engine, settings).import_file(path, final_line_ok=True)

    report = collect_status(engine, limit=2)

    assert report["rejections"] == 3
    recent = report["recent_rejections"]
    assert [(r["file"], r["line"], r["reason"]) for r in recent] == [
        (path_key(path), 4, "bad_price"),
        (path_key(path), 3, "bad_price"),
    ]
    assert "oops2" in recent[0]["detail"]
    assert recent[0]["at"].endswith("Z")


def test_status_report_serializes_to_json(
    engine: Engine, settings: Settings, samples: Path
) -> None:
    """The report is plain data: it survives a JSON round trip as `status --json` prints it."""
    _import_samples(engine, settings, samples)
    report = collect_status(engine)
    assert json.loads(json.dumps(report))["trades"] == 14


def test_rendered_status_names_each_file_with_its_counts_and_errors(
    engine: Engine, settings: Settings, samples: Path
) -> None:
    """The text rendering shows the schema, the totals, each file's counts and its last error."""
    _import_samples(engine, settings, samples)
    text = render_status(collect_status(engine))

    assert f"schema: {migrate.head()}" in text
    assert "trades: 14  ledger: 14  rejections: 0" in text
    assert f"[ok] {path_key(samples / 'grid-export-en-us.csv')}" in text
    assert "inserted 6 dup 0 rejected 0 conflicts 0" in text
    assert f"[refused] {path_key(samples / 'trades-grid-not-executions.csv')}" in text
    assert "'Trades' export" in text
