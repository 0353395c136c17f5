"""``csv-import-daemon verify [PATH...] [--json]``: check the promise on your own journal.

Writes nothing (see ``db.readonly``), so it is safe while the daemon runs. Exit 0 when
nothing is missing, 1 when an execution is missing from the ledger or a rejected row is not
recorded (or a file given by path cannot be read) or the round trips disagree with
``trades`` or the point values in force, 3 when the database cannot be reached. A Position
column that disagrees with the round trips is reported, never a failure (some connections
write ``-`` on every fill).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, inspect, select
from sqlalchemy.exc import DBAPIError

from csv_import_daemon.cli.common import add_common, add_reading, csv_files
from csv_import_daemon.cli.progress import ReadProgress
from csv_import_daemon.cli.terminal import visible
from csv_import_daemon.config.commissions import CommissionSchedule
from csv_import_daemon.config.point_values import PointValues
from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db import recorded
from csv_import_daemon.db.engine import describe_db_error
from csv_import_daemon.db.readonly import reading, readonly_engine
from csv_import_daemon.db.tables import FILES
from csv_import_daemon.errors import DatabaseUnavailableError, ExitCode
from csv_import_daemon.files.names import path_key, path_of_key
from csv_import_daemon.importing.checkpoint import Checkpoint
from csv_import_daemon.importing.service import ImportService
from csv_import_daemon.logs import get_logger
from csv_import_daemon.reports.audit import Auditor
from csv_import_daemon.reports.audit_result import FileAudit
from csv_import_daemon.trips.consistency import Span, check_round_trips
from csv_import_daemon.trips.positions import position_mismatches

log = get_logger(__name__)


def register(subparsers: Any) -> None:
    """Add the ``verify`` command."""
    p: argparse.ArgumentParser = subparsers.add_parser("verify")  # its help: cli.main.COMMANDS
    p.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="files or folders to check (default: every file with a checkpoint that still exists)",
    )
    p.add_argument(
        "--json", action="store_true", help="machine-readable report on stdout (default: text)"
    )
    add_reading(p, as_imported=True)
    add_common(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, settings: Settings) -> int:
    return run(settings, args.paths, as_json=args.json)


def run(settings: Settings, paths: Sequence[Path], *, as_json: bool) -> int:
    """The ``verify`` command; the exit code."""
    engine = readonly_engine(settings)
    try:
        with reading(engine) as conn:
            if not inspect(conn).has_table("imported_executions"):
                raise DatabaseUnavailableError("the database holds no journal tables")
            settings = recorded.apply(settings, recorded.load(conn, settings.instance_name))
            audits = _audit_all(conn, settings, paths)
            trips = _round_trips(conn, settings, _spans(audits) if paths else None)
    except DBAPIError as exc:  # OperationalError included: unreachable, locked, cut
        raise DatabaseUnavailableError(describe_db_error(engine, exc)) from exc
    finally:
        engine.dispose()
    report = _report(audits)
    if trips is not None:
        report.update(trips)
        report["failed"] = report["failed"] or trips["round_trips"]["stale"]
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print(_render(visible(report)))
    return ExitCode.FILE_FAILED if report["failed"] else ExitCode.OK


def _audit_all(conn: Connection, settings: Settings, paths: Sequence[Path]) -> list[FileAudit]:
    checkpoints = {
        row.path: Checkpoint.from_row(row)
        for row in conn.execute(select(FILES).where(FILES.c.instance == settings.instance_name))
    }
    if paths:
        files = csv_files(paths)
    else:  # every file the journal knows that is still there, archived ones included
        files = [p for p in map(path_of_key, sorted(checkpoints)) if p.is_file()]
    auditor = Auditor(conn=conn, service=ImportService(conn.engine, settings), settings=settings)
    audits = []
    for path in files:
        # The daemon keys absolute paths, a one-shot import the path as it was typed.
        cp = checkpoints.get(path_key(path.absolute())) or checkpoints.get(path_key(path))
        bar = ReadProgress(path) if sys.stderr.isatty() else None
        audit = auditor.audit(path, cp, bar)
        if bar:
            bar.done()
        log.debug("verified", file=audit.file, status=str(audit.status))
        audits.append(audit)
    return audits


def _spans(audits: list[FileAudit]) -> list[Span] | None:
    """Where the files' stored fills lie, per (account, contract); None (check the whole
    journal) when a fill has no contract to look its round trips up by."""
    spans: list[Span] = []
    for audit in audits:
        for (account, contract), (first, last) in audit.spans.items():
            if contract is None:
                return None
            spans.append((account, contract, first, last))
    return spans


def _round_trips(
    conn: Connection, settings: Settings, spans: list[Span] | None
) -> dict[str, Any] | None:
    """Do the round trips agree with ``trades`` and the point values in force (the thorough
    check: of the whole journal, or with ``spans`` of the files' own fills and the first
    look for the rest), and with the files' Position column? None before the round-trip
    tables exist."""
    if not inspect(conn).has_table("round_trips"):
        return None
    values = PointValues(dict(settings.point_values))
    schedule = CommissionSchedule(dict(settings.commissions))
    drift = check_round_trips(conn, values, thorough=True, schedule=schedule, spans=spans)
    positions = position_mismatches(conn)
    return {
        "round_trips": {**drift.as_dict(), "message": drift.describe() if drift.stale else None},
        "positions": [{**asdict(m), "message": m.describe()} for m in positions],
    }


def _report(audits: list[FileAudit]) -> dict[str, Any]:
    totals = {
        "files": len(audits),
        "executions": sum(a.executions for a in audits),
        "present": sum(a.present for a in audits),
        "deleted": sum(a.deleted for a in audits),
        "before_horizon": sum(a.before_horizon for a in audits),
        "unread": sum(a.unread for a in audits),
        "missing": sum(len(a.missing) for a in audits),
        "rejected": sum(a.rejected for a in audits),
        "rejected_unrecorded": sum(len(a.unrecorded) for a in audits),
        "conflicts": sum(len(a.conflicts) for a in audits),
        "reading_problems": sum(len(a.readings) for a in audits),
    }
    return {
        "failed": any(a.failed for a in audits),
        "totals": totals,
        "files": [a.as_dict() for a in audits],
    }


def _render(report: dict[str, Any]) -> str:
    lines = []
    for f in report["files"]:
        lines.append(
            f"{f['file']}: {f['status']} executions={f['executions']} present={f['present']} "
            f"missing={len(f['missing'])} deleted={f['deleted']} unread={f['unread']} "
            f"rejected={f['rejected']} unrecorded={len(f['rejected_unrecorded'])} "
            f"conflicts={len(f['conflicts'])}" + (f" -- {f['message']}" if f.get("message") else "")
        )
        lines += [f"  missing: line {m['line']} ID {m['execution_id']}" for m in f["missing"]]
        lines += [
            f"  rejection not recorded: line {u['line']} {u['reason']}: {u['detail']}"
            for u in f["rejected_unrecorded"]
        ]
        lines += [
            f"  conflict: line {c['line']} ID {c['execution_id']} differs in "
            f"{', '.join(c['fields'])}{'' if c['recorded'] else ' (not recorded)'}"
            for c in f["conflicts"]
        ]
        lines += [
            f"  to the minute: line {c['line']} ID {c['execution_id']} is stored as a whole "
            "minute (a re-save); importing this file gives its exact time (`import --reread "
            "FILE` if it was read before)"
            for c in f["finer"]
        ]
        lines += [
            f"  reading: {r['message']}"
            + (
                f" ({r['rows']} rows, e.g. lines {', '.join(map(str, r['lines']))})"
                if r["rows"]
                else ""
            )
            for r in f["readings"]
        ]
    t = report["totals"]
    verdict = "OK: every execution read so far is in the journal"
    if report["failed"]:
        # The re-read hint only where something is missing: for stale round trips or a
        # rewritten file it would store fills a second time; their own lines name the fix.
        verdict = (
            "FAILED: run `csv-import-daemon import --reread FILE` to import what is missing"
            if t["missing"] or t["unread"]
            else "FAILED: each problem listed names its fix"
        )
    if t["reading_problems"]:
        verdict = (
            "FAILED: stored values differ from the files' own reading; repair them with "
            "`csv-import-daemon import --reread --replace [--source-timezone ZONE] "
            "[--date-order mdy|dmy] [--decimal-mark .|,] FILE`"
        )
    lines.append(
        f"{t['files']} files, {t['executions']} executions: {t['present']} present "
        f"({t['deleted']} deleted by you), {t['missing']} missing, {t['unread']} not read yet, "
        + (
            f"{t['before_horizon']} before the ledger's retention horizon, "
            if t["before_horizon"]
            else ""
        )
        + f"{t['rejected']} rejected rows ({t['rejected_unrecorded']} not recorded), "
        f"{t['conflicts']} conflicts, {t['reading_problems']} reading problems; {verdict}"
    )
    trips = report.get("round_trips")
    if trips is not None:
        lines.append(trips["message"] or "round trips: agree with trades and the point values")
    lines += [f"position: {m['message']}" for m in report.get("positions", [])]
    return "\n".join(lines)
