"""What ``status`` shows: daemons, settings in force, totals, files with problems first.

The ``--json`` form is a stable schema (``STATUS_SCHEMA``, documented in the README): keys
are only ever added, never renamed or removed, within one schema number.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import Engine, func, inspect, select

from csv_import_daemon.config.commissions import CommissionSchedule
from csv_import_daemon.config.database_url import masked_url
from csv_import_daemon.config.point_values import PointValues
from csv_import_daemon.config.settings import Settings, settings_in_force
from csv_import_daemon.db import heartbeat, schema
from csv_import_daemon.db.tables import FILES, LEDGER, REJECTIONS, TRADES, CheckpointStatus
from csv_import_daemon.trips.consistency import Drift, check_round_trips
from csv_import_daemon.trips.positions import PositionMismatch, position_mismatches

STATUS_SCHEMA = 1
REPAIR_HINT = (
    "  to repair a wrong date order or zone: csv-import-daemon import --reread --replace "
    "--date-order mdy|dmy --source-timezone ZONE PATH... (old values go to trade_corrections)"
)

# Problems first, in this order; healthy files after them.
_PROBLEM_ORDER = (
    CheckpointStatus.REFUSED,
    CheckpointStatus.REPAIR_PENDING,
    CheckpointStatus.REWRITTEN,
    "conflicts",
    "rejections",
    CheckpointStatus.READING,
    "half_line",
)


def file_problem(r: Any) -> str | None:
    """The problem of a file checkpoint row, or None when it is healthy."""
    if r.status in (
        CheckpointStatus.REFUSED,
        CheckpointStatus.REPAIR_PENDING,  # an interrupted --replace
        CheckpointStatus.REWRITTEN,  # saved over without fills read before: rows held back
    ):
        return str(r.status)
    if r.conflicts:
        return "conflicts"
    if r.rejected:
        return "rejections"
    if r.status == CheckpointStatus.READING:
        return CheckpointStatus.READING.value
    if r.pending_bytes:
        return "half_line"
    return None


def _file(r: Any) -> dict[str, Any]:
    refused = r.status == CheckpointStatus.REFUSED
    reading = r.status in (CheckpointStatus.READING, CheckpointStatus.REPAIR_PENDING)
    # A checkpoint saved between batches counts the whole unread rest after its offset; only
    # a finished read's leftover is a half line waiting for its newline.
    rest = max(0, r.size - r.offset)
    return {
        "instance": r.instance,
        "path": r.path,
        "status": r.status,
        "problem": file_problem(r),
        "reason": r.last_error,
        # A refused file was never read as executions: its offsets mean nothing.
        "offset": None if refused else r.offset,
        "size": r.size,
        "pending_bytes": 0 if refused or reading else r.pending_bytes,
        "unread_bytes": None if refused else (rest if reading else 0),
        "lines": r.lines_consumed,
        "date_order": r.date_order,
        "date_order_source": r._mapping.get("date_order_source"),
        "decimal_mark": r._mapping.get("decimal_mark"),
        "source_timezone": r._mapping.get("source_timezone"),
        # A repair's explicit date order and decimal mark, which stay with the file.
        "pinned_date_order": r._mapping.get("pinned_date_order"),
        "pinned_decimal_mark": r._mapping.get("pinned_decimal_mark"),
        "inserted": r.inserted,
        "duplicates": r.duplicates,
        "rejected": r.rejected,
        "conflicts": r.conflicts,
        "last_error": r.last_error,
        "archived_to": r.archived_to,
        "updated_at": r.updated_at.isoformat() + "Z",
    }


def _sort_key(f: dict[str, Any]) -> tuple[int, str]:
    problem = f["problem"]
    rank = _PROBLEM_ORDER.index(problem) if problem in _PROBLEM_ORDER else len(_PROBLEM_ORDER)
    return rank, f["path"]


def _settings(settings: Settings | None, engine: Engine) -> dict[str, Any]:
    if settings is None:
        return {"database": masked_url(engine.url)}
    return {
        **settings_in_force(settings),
        "database": masked_url(settings.database_url),
        "instance": settings.instance_name,
    }


def collect_status(
    engine: Engine, limit: int = 20, *, settings: Settings | None = None
) -> dict[str, Any]:
    """The whole report as plain data (what ``status --json`` prints)."""
    revision = schema.current(engine)
    report: dict[str, Any] = {
        "status_schema": STATUS_SCHEMA,
        "settings": _settings(settings, engine),
        "schema_revision": revision,
        "daemon_running": False,
        "daemons": [],
        "last_import_at": None,
        "trades": 0,
        "ledger": 0,
        "rejections": 0,
        "files": [],
        "recent_rejections": [],
    }
    if not inspect(engine).has_table("imported_executions"):
        return report
    with engine.connect() as conn:
        report["daemons"] = heartbeat.daemons(conn)
        report["daemon_running"] = any(d["running"] for d in report["daemons"])
        report["trades"] = conn.scalar(select(func.count()).select_from(TRADES)) or 0
        report["ledger"] = conn.scalar(select(func.count()).select_from(LEDGER)) or 0
        report["rejections"] = conn.scalar(select(func.count()).select_from(REJECTIONS)) or 0
        last = conn.scalar(
            select(func.max(FILES.c.updated_at)).where(
                FILES.c.status != CheckpointStatus.REFUSED.value
            )
        )
        report["last_import_at"] = last.isoformat() + "Z" if last else None
        # An older schema (status works before `db upgrade`) lacks the newer columns.
        present = {c["name"] for c in inspect(conn).get_columns("import_files")}
        columns = [c for c in FILES.c if c.name in present]
        files = [_file(r) for r in conn.execute(select(*columns))]
        report["files"] = sorted(files, key=_sort_key)
        if inspect(conn).has_table("round_trips"):
            values = PointValues(dict(settings.point_values)) if settings else None
            # Before revision 0017 (status works before `db upgrade`) no fill has a source.
            sourced = "commission_source" in {
                c["name"] for c in inspect(conn).get_columns("trades")
            }
            schedule = (
                CommissionSchedule(dict(settings.commissions)) if settings and sourced else None
            )
            report["round_trips"] = check_round_trips(conn, values, schedule=schedule).as_dict()
            report["positions"] = [asdict(m) for m in position_mismatches(conn)]
        report["recent_rejections"] = [
            {
                "file": r.source_file,
                "line": r.line,
                "reason": r.reason,
                "detail": r.detail,
                "execution_id": r.execution_id,
                "at": r.created_at.isoformat() + "Z",
            }
            for r in conn.execute(select(REJECTIONS).order_by(REJECTIONS.c.id.desc()).limit(limit))
        ]
    return report


def _round_trip_lines(report: dict[str, Any]) -> list[str]:
    lines = [PositionMismatch(**m).describe() for m in report.get("positions", [])]
    drift = report.get("round_trips")
    if drift and drift["stale"]:
        lines.insert(0, Drift(**{k: v for k, v in drift.items() if k != "stale"}).describe())
    return lines


def _fit(text: str, width: int | None) -> str:
    """Cut a line to the terminal, keeping the end of a path (the file name) visible."""
    if width is None or len(text) <= width:
        return text
    return text[: max(10, width // 3)] + "..." + text[-(width - max(10, width // 3) - 3) :]


def _daemon_lines(report: dict[str, Any]) -> list[str]:
    if not report["daemons"]:
        return ["daemon: no daemon has run on this database"]
    lines = []
    for d in report["daemons"]:
        if d["running"]:
            state = f"running (pid {d['pid']} on {d['host']}, heartbeat {d['heartbeat_at']})"
        elif d["stopped_at"]:
            state = f"stopped at {d['stopped_at']}"
        else:
            state = f"not running (last heartbeat {d['heartbeat_at']})"
        lines.append(f"daemon {d['instance']}: {state}")
    return lines


def _file_line(f: dict[str, Any]) -> str:
    counts = (
        f"inserted {f['inserted']} dup {f['duplicates']} rejected {f['rejected']} "
        f"conflicts {f['conflicts']}"
    )
    if f["problem"] == "refused":
        return f"  [refused] {f['path']}"
    extra = ""
    if f["unread_bytes"]:
        extra = f"  unread {f['unread_bytes']} bytes"
    elif f["pending_bytes"]:
        extra = f"  half line of {f['pending_bytes']} bytes waiting"
    return f"  [{f['status']}] {f['path']}  {f['offset']}/{f['size']} bytes{extra}  {counts}"


# What settled a file's date order, as ``status`` words it.
_SOURCE_WORDS = {"content": "file", "checkpoint": "file"}


def _unsettled(f: dict[str, Any]) -> bool:
    """The date_order setting decided, and no repair chose the order for the file."""
    return f.get("date_order_source") == "setting" and not f.get("pinned_date_order")


def _reading_line(f: dict[str, Any]) -> str:
    """How the file is read: its zone, date order (and what settled it), decimal mark."""
    source = f.get("date_order_source")
    source = _SOURCE_WORDS.get(source, source) if source else "unknown"
    if f.get("pinned_date_order"):
        source += ", kept from a repair"
    mark = f.get("decimal_mark") or "not settled"
    if f.get("pinned_decimal_mark"):
        mark += " (kept from a repair)"
    return (
        f"read in {f.get('source_timezone') or 'unknown zone'}, date order "
        f"{f.get('date_order') or 'not settled'} ({source}), decimal mark {mark}"
    )


def render_status(report: dict[str, Any], width: int | None = None) -> str:
    """The report as lines for a person; ``width`` cuts them to fit a terminal."""
    s = report["settings"]
    lines = _daemon_lines(report)
    lines += [
        f"configuration: {s.get('config_file') or 'none (defaults, environment and flags)'}",
        f"database: {s['database']}  schema: {report['schema_revision'] or 'none'}",
    ]
    if "source_timezone" in s:
        lines.append(
            f"source time zone: {s['source_timezone']}  date order: {s['date_order']}  "
            f"decimal mark: {s['decimal_mark']}"
        )
    lines += [
        f"trades: {report['trades']}  ledger: {report['ledger']}  "
        f"rejections: {report['rejections']}",
        f"last import: {report['last_import_at'] or 'never'}",
        *_round_trip_lines(report),
        "",
        "files (problems first):" if report["files"] else "files: none imported yet",
    ]
    for f in report["files"]:
        lines.append(_file_line(f))
        if f["problem"] != "refused":
            lines.append(f"      {_reading_line(f)}")
        if f["last_error"]:
            lines.append(f"      {f['last_error']}")
        if _unsettled(f):
            lines.append(
                f"      date order {f['date_order']} unsettled: nothing in the file, its name "
                "or its folder shows it, the date_order setting decided"
            )
        elif f.get("date_order_source") == "unsettled":
            lines.append(
                "      date order unsettled: rows whose date reads both ways wait as "
                "ambiguous_date until another export of the folder or date_order settles it"
            )
    if any(_unsettled(f) for f in report["files"]):
        lines.append(REPAIR_HINT)
    if report["recent_rejections"]:
        lines += ["", "recent rejections:"]
        lines += [
            f"  {r['file']}:{r['line']} {r['reason']}: {r['detail']}"
            for r in report["recent_rejections"]
        ]
    return "\n".join(_fit(line, width) for line in lines)
