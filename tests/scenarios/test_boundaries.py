"""Boundaries: odd names, links leading out, a folder that disappears, the journal's file
permissions, and SQL that is never assembled from strings."""

from __future__ import annotations

import ast
import os
import re
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from csv_import_daemon.config.settings import load_settings
from csv_import_daemon.db import migrate
from csv_import_daemon.db.engine import make_engine
from support.daemon import start_daemon
from support.journal import Journal, sqlite_url
from support.paths import REPO
from support.rows import csv_text, ids_of, make_rows, write_csv
from support.waiting import wait_for

SRC = REPO / "src" / "csv_import_daemon"
BENCHMARKS = REPO / "benchmarks"


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(sqlite_url(tmp_path))
    yield j
    j.close()


@pytest.mark.daemon
def test_names_with_spaces_unicode_and_newlines(tmp_path: Path, database_url: str) -> None:
    """Folder and file names with spaces, Unicode, newlines and non-UTF-8 bytes import."""
    watch = tmp_path / "Ex ports ü\nnew line"
    watch.mkdir()
    names = ["my trades.csv", "Übersicht 日本 €.csv", "line\nbreak.csv", " leading space.csv"]
    rows = {name: make_rows(2, start=10 * i) for i, name in enumerate(names)}
    for name, file_rows in rows.items():
        write_csv(watch / name, file_rows)
    latin = make_rows(2, start=90)
    latin_path = os.fsencode(watch) + b"/caf\xe9 latin-1.csv"
    with open(latin_path, "w", encoding="utf-8") as f:
        f.write(csv_text(latin))
    everything = set().union(*map(ids_of, rows.values())) | ids_of(latin)
    journal = Journal(database_url)
    try:
        with start_daemon(watch, database_url) as d:
            wait_for(journal.ids, everything)
            paths = {r["path"] for r in journal.rows("SELECT path FROM import_files")}
            assert {str(watch / name) for name in names} <= paths
            assert str(watch) + "/caf\\xe9 latin-1.csv" in paths  # undecodable byte kept
            late = make_rows(1, start=99)
            with open(watch / "line\nbreak.csv", "a", encoding="utf-8") as f:
                f.write(csv_text(late, header=False))
            wait_for(journal.ids, everything | ids_of(late))
            d.stop_cleanly()
    finally:
        journal.close()


@pytest.mark.daemon
def test_symbolic_links_leading_out_are_not_followed(tmp_path: Path, journal: Journal) -> None:
    """Links to files or folders outside, made while running, are not followed."""
    watch = tmp_path / "watch"
    watch.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = write_csv(outside / "secret.csv", make_rows(3, start=0))
    write_csv(outside / "also-secret.csv", make_rows(3, start=10))
    with start_daemon(watch, sqlite_url(tmp_path), "--recursive") as d:
        (watch / "link.csv").symlink_to(secret)
        (watch / "linked-folder").symlink_to(outside, target_is_directory=True)
        (watch / "sub").mkdir()
        (watch / "sub" / "deep-link.csv").symlink_to(secret)
        good = make_rows(2, start=20)
        write_csv(watch / "zz-after.csv", good)
        # Paths are taken in arrival order: once the later file is in, the links were seen.
        wait_for(journal.ids, ids_of(good))
        assert [r["path"] for r in journal.rows("SELECT path FROM import_files")] == [
            str(watch / "zz-after.csv")
        ]
        d.stop_cleanly()


@pytest.mark.daemon
@pytest.mark.parametrize("observer", ["inotify", "polling"])
def test_watched_folder_removed_and_recreated_is_watched_again(
    tmp_path: Path, journal: Journal, observer: str
) -> None:
    """A watched folder removed and re-created is watched again (inotify and polling)."""
    watch = tmp_path / "watch"
    watch.mkdir()
    first = make_rows(2, start=0)
    write_csv(watch / "first.csv", first)
    flags = ["--polling"] if observer == "polling" else []
    with start_daemon(watch, sqlite_url(tmp_path), *flags) as d:
        wait_for(journal.ids, ids_of(first))
        shutil.rmtree(watch)
        watch.mkdir()
        second = make_rows(2, start=10)
        write_csv(watch / "second.csv", second)
        wait_for(journal.ids, ids_of(first + second), timeout=30)
        third = make_rows(2, start=20)
        write_csv(watch / "third.csv", third)
        wait_for(journal.ids, ids_of(first + second + third), timeout=30)
        more = make_rows(1, start=30)
        with open(watch / "third.csv", "a", encoding="utf-8") as f:
            f.write(csv_text(more, header=False))
        wait_for(journal.ids, ids_of(first + second + third + more), timeout=30)
        assert d.returncode is None
        assert bool(d.events("observer_restarted")) == (observer == "inotify")
        d.stop_cleanly()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.daemon
def test_new_sqlite_journal_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """A journal the daemon creates is 0600 (with its WAL files) in a 0700 folder."""
    state = tmp_path / "state" / "csv-import-daemon"
    watch = tmp_path / "watch"
    watch.mkdir()
    url = f"sqlite:///{state / 'journal.sqlite3'}"
    old = os.umask(0o022)
    try:
        # The default journal's folder is the one the daemon may create (an explicit path's
        # folder must exist): the same path as the default under this XDG_STATE_HOME.
        env = {"XDG_STATE_HOME": str(tmp_path / "state")}
        with start_daemon(watch, url, env=env) as d:
            write_csv(watch / "a.csv", make_rows(1))
            journal = Journal(url)
            try:
                wait_for(journal.trades, 1)
            finally:
                journal.close()
            assert _mode(state) == 0o700
            for name in ("journal.sqlite3", "journal.sqlite3-wal", "journal.sqlite3-shm"):
                if (state / name).exists():
                    assert _mode(state / name) == 0o600, name
            d.stop_cleanly()
    finally:
        os.umask(old)


def test_journal_created_by_the_command_line_is_owner_only_too(tmp_path: Path) -> None:
    """make_engine creates a new journal 0600 and leaves an existing one's mode alone."""
    path = tmp_path / "new" / "journal.sqlite3"
    path.parent.mkdir()  # an explicit journal's folder must exist (the default's is made)
    settings = load_settings(
        {"database_url": f"sqlite:///{path}", "source_timezone": "UTC"}, environ={}
    )
    engine = make_engine(settings)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    assert _mode(path) == 0o600
    path.chmod(0o640)
    engine = make_engine(settings)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    assert _mode(path) == 0o640


# -- no SQL assembled from strings -------------------------------------------------------------

_SQL_CALLS = {"execute", "executemany", "executescript", "exec_driver_sql", "text"}
_SQL_WORDS = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|PRAGMA|BEGIN|"
    r"VALUES|WHERE|FROM)\b"
)
# The benchmark only, where identifiers (which cannot be bound parameters) come from the
# code itself: its throw-away PostgreSQL database is named from secrets.token_hex, its row
# counts name one of the project's tables, and its naive reference is a sqlite3 shell
# script for a file it generated.
_ALLOWED = {
    ("bench.py", "f'CREATE DATABASE \"{name}\"'"),
    ("bench.py", "f'DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)'"),
    ("bench.py", 'f"SELECT count(*) FROM {table}"'),
    # The fleet benchmark's scratch database: a generated name, never data.
    ("bench_fleet.py", "f'CREATE DATABASE \"{name}\"'"),
    ("bench_fleet.py", "f'DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)'"),
}
_ALLOWED_PREFIXES = {
    ("bench.py", 'f"CREATE TABLE t ({columns});\\n"'),
    # Multi-row INSERTs of the round-trip tables: the table and column names are the
    # module's constants and the rest is placeholders; every value is bound.
    ("sql.py", "f\"INSERT INTO {table} ({', '.join(columns)}) VALUES \""),
    ("sql.py", 'head + ", ".join([row] *'),
    # Many (account, contract) keys as rows of one statement (``TripSql.key_rows``): a
    # JSON array or PostgreSQL arrays, bound as one parameter each; what is assembled is
    # column names and type names from the code, and the statements that select from it.
    ("sql.py", 'f"SELECT {picks}, key AS n FROM json_each(?)"'),
    ("sql.py", 'f"SELECT * FROM unnest({arrays}) WITH ORDINALITY AS k('),
    ("refresh.py", 'f"SELECT pg_advisory_xact_lock(hashtextextended(k.a || chr(31) || k.c, 13)) "'),
    (
        "refresh.py",
        'f"SELECT (SELECT count(*) FROM trades WHERE account = k.a AND contract = k.c "',
    ),
    ("positions.py", 'f"WITH k AS ({chosen}), "'),
    ("positions.py", 'f"WITH k AS ({chosen}) "'),
    # pnl's stored bookings (trips/statement.py): the WHERE clause is fixed column names
    # with bound placeholders (one per account or contract asked for, hour bounds); every
    # value is bound.
    ("statement.py", '"WHERE " + " AND ".join(clauses)'),
    (
        "statement.py",
        '"SELECT account, contract, instrument, commission_currency, utc_hour, sum(points), "',
    ),
    ("statement.py", '"SELECT account, contract, instrument, commission_currency, utc_hour, "'),
    # The speed benchmark's naive floors and scratch databases: its own constant column
    # lists and generated database names, never data.
    ("bench_speed.py", "f'DROP DATABASE IF EXISTS \"{name}\"'"),
    ("bench_speed.py", "f'CREATE DATABASE \"{name}\"'"),
    ("speed_floors.py", 'f"INSERT OR IGNORE INTO imported_executions ({LEDGER_COLS})'),
    ("speed_floors.py", 'f"INSERT OR IGNORE INTO trades ({TRADES_COLS})'),
    ("speed_floors.py", 'f"INSERT INTO imported_executions ({LEDGER_COLS})'),
    ("speed_floors.py", 'f"INSERT INTO trades ({TRADES_COLS})'),
    ("speed_floors.py", 'f"COPY imported_executions ({LEDGER_COLS}) FROM STDIN"'),
    ("speed_floors.py", 'f"COPY trades ({TRADES_COLS}) FROM STDIN"'),
}


def _assembled(node: ast.AST) -> bool:
    """A string built at run time: f-string, %-formatting, concatenation, .format, .join."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.FormattedValue) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        return True
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("format", "join")
    )


def _constant_text(node: ast.AST) -> str:
    return " ".join(
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    )


def sql_assembled_from_strings(root: Path) -> list[str]:
    """Places in ``root`` where SQL text is built at run time, as 'file:line: source'."""
    found = []
    for path in sorted(root.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            suspects: list[ast.AST] = []
            if isinstance(node, ast.Call):
                name = (
                    node.func.attr
                    if isinstance(node.func, ast.Attribute)
                    else getattr(node.func, "id", "")
                )
                if name in _SQL_CALLS and node.args and _assembled(node.args[0]):
                    suspects.append(node.args[0])
            if _assembled(node) and _SQL_WORDS.search(_constant_text(node)):
                suspects.append(node)
            for suspect in suspects:
                snippet = ast.get_source_segment(source, suspect) or ""
                if (path.name, snippet) not in _ALLOWED and not any(
                    path.name == name and snippet.startswith(prefix)
                    for name, prefix in _ALLOWED_PREFIXES
                ):
                    found.append(
                        f"{path.relative_to(root)}:{getattr(suspect, 'lineno', 0)}: {snippet}"
                    )
    return sorted(set(found))


def test_no_sql_is_assembled_from_strings() -> None:
    """No f-string, %-format, concatenation, .format or .join builds SQL in src/ (nor in
    benchmarks/, but for the benchmark's own identifiers)."""
    assert sql_assembled_from_strings(SRC) == []
    assert sql_assembled_from_strings(BENCHMARKS) == []


def test_the_sql_check_catches_what_it_should(tmp_path: Path) -> None:
    """The checker itself flags each way of assembling SQL (and passes the safe ones)."""
    (tmp_path / "bad.py").write_text(
        "conn.execute(f'SELECT * FROM t WHERE a = {x}')\n"
        "conn.exec_driver_sql('PRAGMA busy_timeout = %d' % ms)\n"
        "cursor.execute('DELETE FROM t WHERE id = ' + ident)\n"
        "q = 'UPDATE t SET a = {}'.format(v)\n"
        "text(' AND '.join(parts))\n"
    )
    (tmp_path / "good.py").write_text(
        "conn.execute(text('SELECT * FROM t WHERE a = :a'), {'a': x})\n"
        "conn.exec_driver_sql(COMPILED, rows)\n"
        "log.info(f'imported {n} rows from {path}')\n"
    )
    flagged = sql_assembled_from_strings(tmp_path)
    assert [f.split(":")[:2] for f in flagged] == [
        ["bad.py", "1"],
        ["bad.py", "2"],
        ["bad.py", "3"],
        ["bad.py", "4"],
        ["bad.py", "5"],
    ]
