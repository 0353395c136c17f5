"""What ``status`` shows: totals, per-file checkpoints, recent rejections."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, inspect, select

from csv_import_daemon.db import migrate
from csv_import_daemon.db.models import ImportedExecution, ImportRejection, Trade
from csv_import_daemon.db.tables import FILES, REJECTIONS

REPAIR_HINT = (
    "  to repair a wrong date order or zone: csv-import-daemon import --reread --replace "
    "--date-order mdy|dmy --source-timezone ZONE PATH... (old values go to trade_corrections)"
)


def collect_status(engine: Engine, limit: int = 20) -> dict[str, Any]:
    revision = migrate.current(engine)
    if not inspect(engine).has_table("imported_executions"):
        return {
            "schema_revision": revision,
            "trades": 0,
            "ledger": 0,
            "rejections": 0,
            "files": [],
            "recent_rejections": [],
        }
    with engine.connect() as conn:
        trades = conn.scalar(select(func.count()).select_from(Trade)) or 0
        ledger = conn.scalar(select(func.count()).select_from(ImportedExecution)) or 0
        rejections = conn.scalar(select(func.count()).select_from(ImportRejection)) or 0
        files = [
            {
                "instance": r.instance,
                "path": r.path,
                "status": r.status,
                "offset": r.offset,
                "size": r.size,
                "pending_bytes": r.pending_bytes,
                "lines": r.lines_consumed,
                "date_order": r.date_order,
                "date_order_source": r.date_order_source,
                "decimal_mark": r.decimal_mark,
                "inserted": r.inserted,
                "duplicates": r.duplicates,
                "rejected": r.rejected,
                "conflicts": r.conflicts,
                "last_error": r.last_error,
                "archived_to": r.archived_to,
                "updated_at": r.updated_at.isoformat() + "Z",
            }
            for r in conn.execute(select(FILES).order_by(FILES.c.path))
        ]
        recent = [
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
    return {
        "schema_revision": revision,
        "trades": trades,
        "ledger": ledger,
        "rejections": rejections,
        "files": files,
        "recent_rejections": recent,
    }


def render_status(report: dict[str, Any]) -> str:
    lines = [
        f"schema: {report['schema_revision'] or 'none'}",
        f"trades: {report['trades']}  ledger: {report['ledger']}  "
        f"rejections: {report['rejections']}",
        "",
        "files:",
    ]
    for f in report["files"]:
        pending = f"  pending {f['pending_bytes']} bytes" if f["pending_bytes"] else ""
        lines.append(
            f"  [{f['status']}] {f['path']}  offset {f['offset']}/{f['size']}{pending}  "
            f"inserted {f['inserted']} dup {f['duplicates']} rejected {f['rejected']} "
            f"conflicts {f['conflicts']}"
        )
        if f["last_error"]:
            lines.append(f"      {f['last_error']}")
        if f.get("date_order_source") == "setting":
            lines.append(
                f"      date order {f['date_order']} unsettled: nothing in the file, its name "
                "or its folder shows it, the date_order setting decided"
            )
    if any(f.get("date_order_source") == "setting" for f in report["files"]):
        lines.append(REPAIR_HINT)
    if report["recent_rejections"]:
        lines += ["", "recent rejections:"]
        lines += [
            f"  {r['file']}:{r['line']} {r['reason']}: {r['detail']}"
            for r in report["recent_rejections"]
        ]
    return "\n".join(lines)
