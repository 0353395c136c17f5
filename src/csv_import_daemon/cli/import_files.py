"""``csv-import-daemon import``: files once, a summary line per file, a total for several."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError, OperationalError

from csv_import_daemon.cli.common import add_common, add_reading, csv_files, open_journal
from csv_import_daemon.cli.progress import RowProgress
from csv_import_daemon.cli.terminal import visible
from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db import recorded, schema
from csv_import_daemon.errors import ConfigError, ExitCode
from csv_import_daemon.importing.batch_import import GROUP_FILE_BYTES
from csv_import_daemon.importing.result import (
    COUNT_NAMES,
    FAILED,
    Counts,
    ImportResult,
    ImportStatus,
)
from csv_import_daemon.logs import get_logger

if TYPE_CHECKING:
    from csv_import_daemon.importing.service import ImportService

log = get_logger("csv_import_daemon.cli")


def register(sub: Any) -> None:
    p = sub.add_parser("import")  # its help: cli.main.COMMANDS
    p.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="CSV files, or folders of *.csv (default: none, required)",
    )
    p.add_argument(
        "--reread", action="store_true", help="read files again from the start (default: off)"
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="with --reread: the file's reading replaces the stored content of executions "
        "already in the journal (repairs a wrong zone, date order or decimal mark); every "
        "old value is kept in trade_corrections (default: off)",
    )
    add_reading(p)
    add_common(p)
    p.set_defaults(handler=handle)


def expand(paths: list[Path]) -> list[Path]:
    """The files to import, absolute and normalized: one checkpoint per file however it was
    spelled (``samples/x.csv`` or ``../t/samples/x.csv``), and ``source_file`` absolute."""
    return csv_files(Path(os.path.abspath(p)) for p in paths)


def log_result(result: ImportResult) -> None:
    """The same events, at the same levels, as the daemon logs for one import."""
    summary = result.as_dict()
    status = result.status
    if status == ImportStatus.REFUSED:
        log.warning("import_refused", **summary)
    elif status == ImportStatus.ERROR:
        log.warning("file_unreadable", **summary)
    elif status == ImportStatus.INTERRUPTED:
        log.info("import_interrupted", **summary)
    elif status == ImportStatus.IMPORTED and result.rows_read:
        log.info("import", **summary)
    else:  # unchanged, pending, empty, or a header alone: nothing worth an info line
        log.debug("import", **summary)


def handle(args: argparse.Namespace, settings: Settings) -> int:
    from csv_import_daemon.importing.service import ImportService  # noqa: PLC0415 - only this command

    if args.replace and not args.reread:
        raise ConfigError("--replace reads files again: use it with --reread")
    engine = open_journal(settings, create=True)
    try:
        schema.prepare_database(engine, settings)
        # What was not given is read as the journal recorded it; --replace repairs files
        # with other values without changing the record.
        settings = recorded.settle(engine, settings, record=True, repair=args.replace)
        service = ImportService(engine, settings)
        files = expand(args.paths)
        totals = Counts()
        statuses: dict[str, int] = {}
        failed = False
        todo, seen = files, set(files)
        reread, replace = args.reread, args.replace
        while todo:  # then the files whose held-back rows a file of this run settles
            settled: list[Path] = []
            for _path, result in _results(service, todo, reread=reread, replace=replace):
                log_result(result)
                totals += result.counts
                statuses[str(result.status)] = statuses.get(str(result.status), 0) + 1
                print(visible(summary_line(result.as_dict())), flush=True)
                failed = failed or result.status in FAILED
                settled += [p for p in result.settles if p not in seen]
                seen.update(result.settles)
            # Those are imported as the daemon would (their waiting rows read again, in the
            # way each file was read): a repair's --replace touches only the files named.
            todo, reread, replace = settled, False, False
        if len(seen) > 1:
            print(total_line(len(seen), statuses, totals), flush=True)
    finally:
        engine.dispose()
    return ExitCode.FILE_FAILED if failed or not files else ExitCode.OK


def _results(
    service: ImportService, files: list[Path], *, reread: bool, replace: bool
) -> Iterator[tuple[Path, ImportResult]]:
    """Each file's result, in order. Runs of small files share a write transaction where
    the database allows it (SQLite), as the daemon's catch-up does: a folder of daily files
    then refreshes its round trips once per run instead of once per file. Re-reads, and
    files big enough for a progress bar, are imported one by one."""
    shared = service.shares_transactions and not reread

    def alone(path: Path) -> tuple[Path, ImportResult]:
        with RowProgress.for_file(path) as bar:
            return path, service.import_file(path, reread=reread, replace=replace, observer=bar)

    run: list[Path] = []

    def flush() -> Iterator[tuple[Path, ImportResult]]:
        todo, done = list(run), 0
        run.clear()
        if len(todo) < 2:
            yield from (alone(p) for p in todo)
            return
        try:
            for item in service.import_many(todo):
                done += 1
                yield item
        except (OperationalError, DBAPIError) as exc:  # rolled back: the rest one by one
            log.warning("group_rolled_back", files=len(todo) - done, error=str(exc))
            yield from (alone(p) for p in todo[done:])

    for path in files:
        if shared and _small(path):
            run.append(path)
            continue
        yield from flush()
        yield alone(path)
    yield from flush()


def _small(path: Path) -> bool:
    try:
        return os.stat(path).st_size <= GROUP_FILE_BYTES
    except OSError:
        return True  # gone: the import says so, in a run as anywhere else


def summary_line(s: dict[str, Any]) -> str:
    parts = [f"{s['file']}: {s['status']}", *(f"{k}={s[k]}" for k in COUNT_NAMES[:4])]
    if s.get("replaced"):
        parts.append(f"replaced={s['replaced']}")
    if s.get("pending_bytes"):
        parts.append(f"pending_bytes={s['pending_bytes']}")
    if s.get("message"):
        parts.append(f"-- {s['message']}")
    return " ".join(parts)


def total_line(files: int, statuses: dict[str, int], totals: Counts) -> str:
    by_status = " ".join(f"{k}={v}" for k, v in sorted(statuses.items()))
    # replaced only with --replace, as on the per-file lines
    counts = " ".join(f"{k}={v}" for k, v in totals.as_dict().items() if k != "replaced" or v)
    return f"total: {files} files ({by_status}) {counts}"
