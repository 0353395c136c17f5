"""Bounded amplification: many rejected rows make a bounded log (the first ones, then one
summary) while every row is still recorded; unmapped columns are bounded per row."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, func, select
from structlog.testing import capture_logs

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db.tables import REJECTIONS, TRADES
from csv_import_daemon.importing.rejection_log import LOG_EACH
from csv_import_daemon.importing.service import ImportService
from csv_import_daemon.parsing.limits import EXTRA_LIMIT
from support.rows import HEADER, make_row

BAD = 2_000


def test_many_bad_lines_log_a_summary_and_record_every_row(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """2,000 one-byte bad lines and one good row: LOG_EACH row_rejected lines, then one
    row_rejections_summarised with the count and the reasons; all 2,000 recorded."""
    path = tmp_path / "bad.csv"
    lines = [HEADER, *(["x"] * (BAD // 2)), make_row(1).line, *(["7"] * (BAD // 2))]
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    with capture_logs() as logs:
        result = ImportService(engine, settings).import_file(path)
    assert (result.inserted, result.rejected) == (1, BAD)
    each = [e for e in logs if e["event"] == "row_rejected"]
    summaries = [e for e in logs if e["event"] == "row_rejections_summarised"]
    assert len(each) == LOG_EACH
    assert len(summaries) == 1
    summary = summaries[0]
    assert (summary["rejected"], summary["logged"]) == (BAD, LOG_EACH)
    assert summary["not_logged"] == BAD - LOG_EACH
    assert sum(summary["reasons"].values()) == BAD - LOG_EACH
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(REJECTIONS)) == BAD


def test_unmapped_columns_are_bounded_per_row(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """A row whose unmapped columns make more than EXTRA_LIMIT characters of extra is a
    rejected row saying so; a row with a few is stored with them."""
    names = [f"Custom{i}" for i in range(800)]
    path = tmp_path / "wide.csv"
    small = make_row(1).line + "v" + "," * (len(names) - 1)
    big = make_row(2).line + ",".join(f"value-{i}" for i in range(len(names)))
    path.write_text("\n".join([HEADER + ",".join(names), small, big]) + "\n", encoding="ascii")
    with capture_logs() as logs:
        result = ImportService(engine, settings).import_file(path)
    assert (result.inserted, result.rejected) == (1, 1)
    with engine.connect() as conn:
        extra = conn.scalar(select(TRADES.c.extra))
        detail = conn.scalar(select(REJECTIONS.c.detail))
    assert extra is not None
    assert detail is not None
    assert json.loads(extra)["Custom0"] == "v"
    assert f"at most {EXTRA_LIMIT} are kept per row" in detail
    assert [e["reason"] for e in logs if e["event"] == "row_rejected"] == ["too_long"]
