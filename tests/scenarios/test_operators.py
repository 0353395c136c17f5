"""Issue 11: the CLI finds the service's journal, says what it reads, never invents one."""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, text
from sqlalchemy import select as sql_select

from csv_import_daemon import __version__
from csv_import_daemon.cli.main import build_parser
from csv_import_daemon.config.settings import Settings, load_settings
from csv_import_daemon.db.tables import FILES, TRADES
from csv_import_daemon.errors import ConfigError
from csv_import_daemon.importing.service import ImportService
from csv_import_daemon.reports.status import collect_status
from support.daemon import start_daemon
from support.paths import REPO
from support.rows import csv_text, make_rows, write_csv
from support.waiting import wait_for

SAMPLE = REPO / "tests" / "samples" / "grid-export-en-us.csv"


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CSV_IMPORT_") and k != "STATE_DIRECTORY"
    }
    env.update(XDG_STATE_HOME=str(home / "state"), XDG_CONFIG_HOME=str(home / "config"))
    return {**env, **extra}


def cli(home: Path, *args: str, cwd: Path | None = None, **env: str) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "csv_import_daemon", *args],
        cwd=cwd or home,
        capture_output=True,
        text=True,
        env=clean_env(home, **env),
        check=False,
        timeout=120,
    )


def events(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines()]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


# -- 1. one configuration, found the same way by every command --------------------------------


def test_status_without_flags_reads_the_configuration_the_import_used(home: Path) -> None:
    """The user's config.toml (XDG) is found by every command: status reads the same journal."""
    journal = home / "service" / "journal.sqlite3"
    journal.parent.mkdir()
    config = home / "config" / "csv-import-daemon" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'database_url = "sqlite:///{journal}"\nsource_timezone = "Europe/Berlin"\n')

    imported = cli(home, "import", str(SAMPLE))
    status = cli(home, "status", "--json")

    assert imported.returncode == 0, imported.stderr
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["trades"] == 6
    assert report["settings"]["config_file"] == str(config)
    assert report["settings"]["source_timezone"] == "Europe/Berlin"
    assert not (home / "state").exists()  # no second, empty journal in the default place


def test_csv_import_config_beats_the_user_file_and_a_flag_beats_both(home: Path) -> None:
    """--config, then CSV_IMPORT_CONFIG, then the XDG file: the first present one is read."""
    user = home / "config" / "csv-import-daemon" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text('date_order = "dmy"\n')
    named = home / "named.toml"
    named.write_text('date_order = "mdy"\n')
    flagged = home / "flagged.toml"
    flagged.write_text('date_order = "auto"\n')
    env = {"CSV_IMPORT_CONFIG": str(named)}

    assert load_settings(environ={"XDG_CONFIG_HOME": str(home / "config")}).date_order == "dmy"
    assert load_settings(environ={**env, "XDG_CONFIG_HOME": str(home / "config")}).config_file == (
        named
    )
    assert load_settings(environ=env, config_file=flagged).config_file == flagged


@pytest.mark.daemon
def test_start_event_and_status_name_the_settings_in_force(home: Path, tmp_path: Path) -> None:
    """The daemon's start event and status show config file, masked database, zone, date order."""
    watch = tmp_path / "watch"
    watch.mkdir()
    journal = tmp_path / "journal.sqlite3"
    config = tmp_path / "daemon.toml"
    config.write_text('date_order = "dmy"\n')
    with start_daemon(
        watch, f"sqlite:///{journal}", "--config", str(config), log_dir=tmp_path
    ) as daemon:
        start = daemon.wait_event("start")
        wait_for(
            lambda: json.loads(
                cli(home, "status", "--json", "--database", f"sqlite:///{journal}").stdout
            )["daemon_running"],
            True,
            what="status reporting the daemon as running",
        )
        assert daemon.stop() == 0
    assert (start["config_file"], start["date_order"]) == (str(config), "dmy")
    assert (start["source_timezone"], start["decimal_mark"]) == ("UTC", "auto")
    assert start["database"] == f"sqlite:///{journal}"

    stopped = cli(home, "status", "--database", f"sqlite:///{journal}")
    assert stopped.returncode == 0, stopped.stderr
    assert "daemon test-host: stopped at" in stopped.stdout
    assert "date order: auto" in stopped.stdout  # status shows its own settings in force
    secret = cli(
        home, "status", "--json", "--database", "postgresql+psycopg://u:hunter2@127.0.0.1:1/x"
    )
    assert "hunter2" not in secret.stdout + secret.stderr


# -- 2. no invented journals --------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [("status",), ("status", "--json"), ("db", "current"), ("db", "downgrade", "base")]
)
def test_read_only_commands_on_a_missing_journal_exit_3_and_create_nothing(
    home: Path, command: tuple[str, ...]
) -> None:
    """status and db current/downgrade on a SQLite file that does not exist: exit 3, no file."""
    missing = home / "nothere.sqlite3"
    result = cli(home, *command, "--database", f"sqlite:///{missing}")
    default = cli(home, *command)

    assert result.returncode == default.returncode == 3
    (event,) = events(result.stderr)
    assert event["event"] == "database_unavailable"
    assert f"no journal at {missing}" in event["error"]
    assert not missing.exists()
    assert not (home / "state").exists()
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["run", "import", "db"])
def test_an_explicit_journal_in_a_missing_folder_is_a_configuration_error(
    home: Path, command: str
) -> None:
    """run, import and db upgrade with a path whose folder is missing: exit 2, nothing made."""
    url = f"sqlite:///{home}/nonexistent/dir/x.sqlite3"
    args = {
        "run": ("run", "--watch", str(home)),
        "import": ("import", str(SAMPLE)),
        "db": ("db", "upgrade"),
    }[command]
    result = cli(home, *args, "--database", url)

    assert result.returncode == 2
    (event,) = events(result.stderr)
    assert event["event"] == "configuration_error"
    assert f"the folder {home}/nonexistent/dir does not exist" in event["error"]
    assert not (home / "nonexistent").exists()


# -- 3. one error format, strict TOML types --------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "args", "says"),
    [
        pytest.param("", ("--source-timezone", "Mars/Olympus"), "IANA time zone", id="zone"),
        pytest.param("", ("--database", "mysql://x/y"), "is not supported", id="url"),
        pytest.param("settle = = 1\n", (), "is not valid TOML", id="toml-syntax"),
        pytest.param('watch_folder = "x"\n', (), "unknown setting", id="unknown-key"),
        pytest.param('polling = "yes"\n', (), "not a boolean", id="wrong-type"),
        pytest.param('watch_dir = "/nonexistent/watch"\n', (), "not an existing folder", id="dir"),
    ],
)
def test_every_configuration_error_is_one_json_event_exit_2(
    home: Path, toml: str, args: tuple[str, ...], says: str
) -> None:
    """Zone, URL, TOML syntax, unknown key, wrong type, missing folder: one JSON event, exit 2."""
    config = home / "c.toml"
    config.write_text(toml)
    result = cli(home, "run", "--config", str(config), "--log-format", "json", *args)

    assert result.returncode == 2
    (event,) = events(result.stderr)  # one line, and it is JSON
    assert (event["event"], event["level"]) == ("configuration_error", "error")
    assert says in event["error"]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('polling = "yes"', "polling (from"),
        ("settle = true", "settle (from"),
        ("watch_dir = 5", "is not a path"),
        ("settle = nan", "not a finite number"),
        ("rescan_interval = inf", "not a finite number"),
        ("batch_size = 1.5", "not a whole number"),
        ('settle = "5"', "write it without quotes"),
        ("date_order = 1", "use one of auto, mdy, dmy"),
    ],
)
def test_toml_values_of_the_wrong_type_are_errors_naming_the_key(
    tmp_path: Path, line: str, says: str
) -> None:
    """A string for a boolean or number, a boolean for a number, nan/inf, a number for a path."""
    config = tmp_path / "c.toml"
    config.write_text(line + "\n")
    with pytest.raises(ConfigError, match=re.escape(says)) as info:
        load_settings(environ={}, config_file=config)
    assert line.split(" = ", maxsplit=1)[0] in str(info.value)


# -- 4. paths -----------------------------------------------------------------------------------


def test_a_file_keeps_one_checkpoint_however_its_path_is_spelled(home: Path) -> None:
    """`samples/x.csv` from one folder and `../t/samples/x.csv` from another: read once."""
    (home / "t" / "samples").mkdir(parents=True)
    shutil.copy(SAMPLE, home / "t" / "samples" / "x.csv")
    (home / "other").mkdir()
    db = ("--database", f"sqlite:///{home / 'j.sqlite3'}", "--source-timezone", "UTC")

    first = cli(home, "import", "samples/x.csv", *db, cwd=home / "t")
    second = cli(home, "import", "../t/samples/x.csv", *db, cwd=home / "other")

    absolute = str(home / "t" / "samples" / "x.csv")
    assert first.stdout.startswith(f"{absolute}: imported inserted=6"), first.stderr
    assert second.stdout.startswith(f"{absolute}: unchanged"), second.stderr
    engine = create_engine(f"sqlite:///{home / 'j.sqlite3'}")
    with engine.connect() as conn:
        assert conn.scalar(sql_select(func.count()).select_from(FILES)) == 1
        assert set(conn.scalars(sql_select(TRADES.c.source_file))) == {absolute}
    engine.dispose()


# -- 5. command-line manners --------------------------------------------------------------------


def test_a_closed_pipe_ends_status_quietly(home: Path) -> None:
    """`status | head`: the reader goes away, the command ends without a traceback."""
    db = ("--database", f"sqlite:///{home / 'j.sqlite3'}")
    assert cli(home, "import", str(SAMPLE), *db, "--source-timezone", "UTC").returncode == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "csv_import_daemon", "status", *db],
        cwd=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(home),
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()  # nobody reads: the first write fails with EPIPE
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(60) == 141
    assert "Traceback" not in stderr
    assert "BrokenPipe" not in stderr


def test_version_names_the_program(home: Path) -> None:
    """`--version` prints `csv-import-daemon X.Y.Z`, the version of pyproject.toml."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    result = cli(home, "--version")
    assert result.stdout == f"csv-import-daemon {pyproject['project']['version']}\n"
    assert __version__ == pyproject["project"]["version"]


def test_version_is_the_latest_release_in_the_changelog() -> None:
    """The version a user sees is the newest release CHANGELOG.md describes."""
    changelog = (REPO / "CHANGELOG.md").read_text()
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", changelog, re.MULTILINE)
    assert released, "CHANGELOG.md names no release"
    assert __version__ == released[0]


def _parsers(parser: Any) -> list[tuple[str, Any]]:
    out = [(parser.prog, parser)]
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for child in action.choices.values():
                out += _parsers(child)
    return out


def test_every_flag_of_every_command_has_help_with_its_default() -> None:
    """Each option and argument says what it does and its default in --help."""
    missing = [
        f"{prog} {action.dest}"
        for prog, parser in _parsers(build_parser())
        for action in parser._actions
        if action.dest not in ("help", "version", "command", "db_command")
        and "default" not in (action.help or "")
    ]
    assert missing == []
    run_help = subprocess.run(
        [sys.executable, "-m", "csv_import_daemon", "run", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "(default: 5.0)" in run_help  # settle


def _emitted_events() -> dict[str, set[str]]:
    """Event name -> levels, for every ``log.<level>("name", ...)`` in src/ and migrations,
    including ``(log.info if x else log.debug)("name")`` and ``emit = log.debug``, and the
    ``event = "name"`` of each error class, which ``cli.main`` logs at error level."""
    levels = {"debug", "info", "warning", "error", "exception", "critical"}
    found: dict[str, set[str]] = {}

    def levels_of(node: ast.AST, aliases: dict[str, set[str]]) -> set[str]:
        if (
            isinstance(node, ast.Attribute)
            and node.attr in levels
            and isinstance(node.value, ast.Name)
            and node.value.id == "log"
        ):
            return {"error" if node.attr == "exception" else node.attr}
        if isinstance(node, ast.IfExp):
            return levels_of(node.body, aliases) | levels_of(node.orelse, aliases)
        if isinstance(node, ast.Name):
            return aliases.get(node.id, set())
        return set()

    files = [*(REPO / "src").rglob("*.py"), *(REPO / "alembic" / "versions").glob("*.py")]
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, set[str]] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name) and levels_of(node.value, {}):
                    aliases[target.id] = levels_of(node.value, {})
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if (
                        isinstance(item, ast.Assign | ast.AnnAssign)
                        and isinstance(item.value, ast.Constant)
                        and isinstance(item.value.value, str)
                        and any(
                            isinstance(t, ast.Name) and t.id == "event"
                            for t in (
                                item.targets if isinstance(item, ast.Assign) else [item.target]
                            )
                        )
                    ):
                        found.setdefault(item.value.value, set()).add("error")
            if not isinstance(node, ast.Call) or not node.args:
                continue
            first = node.args[0]
            used = levels_of(node.func, aliases)
            if used and isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.setdefault(first.value, set()).update(used)
    return found


def _readme_events() -> dict[str, str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("### Log events", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \| ([^|]+) \|", section, flags=re.MULTILINE)
    return {name: level.strip() for name, level in rows}


def test_every_event_the_code_emits_is_in_the_readme_and_the_other_way_round() -> None:
    """The README's Log events table lists exactly the events in the code, with their levels."""
    emitted = _emitted_events()
    documented = _readme_events()
    assert all(re.fullmatch(r"[a-z][a-z_]*", name) for name in emitted), sorted(emitted)
    assert sorted(set(emitted) - set(documented)) == []  # emitted, not documented
    assert sorted(set(documented) - set(emitted)) == []  # documented, never emitted
    wrong = {
        name: (sorted(levels), documented[name])
        for name, levels in emitted.items()
        if not all(level in documented[name] for level in levels)
    }
    assert wrong == {}


# -- 6. status at a glance ----------------------------------------------------------------------


def test_status_tells_the_unread_rest_of_a_file_from_a_half_line(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """An import stopped mid-file shows unread_bytes; only a waiting last line is pending."""
    big = write_csv(tmp_path / "big.csv", make_rows(20_000))  # several 1 MB read blocks
    half = tmp_path / "half.csv"
    half.write_text(csv_text(make_rows(2, start=100)) + "MNQ MAR25,Buy,1")
    refused = tmp_path / "refused.csv"
    refused.write_text("Name,Value\nx,1\n")
    small_batches = dataclasses.replace(settings, batch_size=10)
    service = ImportService(engine, small_batches)
    calls = iter([False, True])
    service.import_file(big, should_stop=lambda: next(calls, True))
    service.import_file(half, final_line_ok=False)
    service.import_file(refused)

    files = {Path(f["path"]).name: f for f in collect_status(engine, settings=settings)["files"]}

    assert files["big.csv"]["problem"] == "reading"
    assert files["big.csv"]["pending_bytes"] == 0
    assert files["big.csv"]["unread_bytes"] == big.stat().st_size - files["big.csv"]["offset"] > 0
    assert (files["half.csv"]["problem"], files["half.csv"]["pending_bytes"]) == ("half_line", 15)
    assert files["half.csv"]["unread_bytes"] == 0
    assert (files["refused.csv"]["offset"], files["refused.csv"]["unread_bytes"]) == (None, None)
    order = [Path(f["path"]).name for f in collect_status(engine)["files"]]
    assert order == ["refused.csv", "big.csv", "half.csv"]  # problems first


def test_status_json_has_the_documented_top_level_keys(home: Path) -> None:
    """`status --json` carries every key the README's schema documents, and no other."""
    db = ("--database", f"sqlite:///{home / 'j.sqlite3'}")
    assert cli(home, "import", str(SAMPLE), *db, "--source-timezone", "UTC").returncode == 0
    report = json.loads(cli(home, "status", "--json", *db).stdout)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    schema = readme.split("#### `status --json`", 1)[1].split("\n#", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", schema, flags=re.MULTILINE))
    keys = set(report) | set(report["files"][0]) | set(report["settings"])
    assert keys == documented
    assert report["status_schema"] == 1


# -- 7. guarded downgrade -------------------------------------------------------------------------


def test_downgrade_that_would_drop_rows_refuses_without_yes(home: Path) -> None:
    """`db downgrade base` on a journal with trades refuses, names what it would drop, keeps it."""
    url = f"sqlite:///{home / 'j.sqlite3'}"
    assert (
        cli(home, "import", str(SAMPLE), "--database", url, "--source-timezone", "UTC").returncode
        == 0
    )

    refused = cli(home, "db", "downgrade", "base", "--database", url)
    confirmed = cli(home, "db", "downgrade", "base", "--database", url, "--yes")

    assert refused.returncode == 2
    (event,) = events(refused.stderr)
    assert "would drop import_files (1 rows)" in event["error"]
    assert "drop trades (6 rows)" in event["error"]
    assert "drop imported_executions (6 rows)" in event["error"]
    assert "--yes" in event["error"]
    assert (confirmed.returncode, confirmed.stdout) == (0, "base\n")
    engine = create_engine(url)
    with engine.connect() as conn:
        left = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).all()
    engine.dispose()
    assert left == [] or [r[0] for r in left] == ["alembic_version"]


def test_refused_downgrade_leaves_every_row(home: Path) -> None:
    """After a refused downgrade the schema revision and all trades are as they were."""
    url = f"sqlite:///{home / 'j.sqlite3'}"
    cli(home, "import", str(SAMPLE), "--database", url, "--source-timezone", "UTC")
    before = cli(home, "db", "current", "--database", url).stdout
    # Down to 0002 drops the derived round trips (rows): allowed only with --yes.
    assert (
        cli(home, "db", "downgrade", "0002_imported_executions", "--database", url).returncode == 2
    )
    assert (
        cli(home, "db", "downgrade", "0002_imported_executions", "--yes", "--database", url)
    ).returncode == 0
    assert cli(home, "db", "downgrade", "0001_trades", "--database", url).returncode == 2
    after = json.loads(cli(home, "status", "--json", "--database", url).stdout)
    assert (after["schema_revision"], after["trades"], after["ledger"]) == (
        "0002_imported_executions",
        6,
        6,
    )
    assert before.strip() != after["schema_revision"]


# -- 8. progress and totals -----------------------------------------------------------------------


def _run_on_terminal(home: Path, *args: str) -> str:
    """Run the CLI with stdout and stderr on a pseudo-terminal; everything it printed."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "csv_import_daemon", *args],
        cwd=home,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=clean_env(home, COLUMNS="120"),
    )
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        if not ready:
            break
        try:
            data = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(120)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def test_a_long_import_on_a_terminal_shows_rows_rate_and_time_left(home: Path) -> None:
    """On a terminal a big file shows rows done, rows/s and time left; piped, nothing of it."""
    big = write_csv(home / "big.csv", make_rows(45_000))
    assert big.stat().st_size > 5_000_000
    db = ("--database", f"sqlite:///{home / 'j.sqlite3'}", "--source-timezone", "UTC")

    shown = _run_on_terminal(home, "import", str(big), *db, "--log-level", "warning")
    piped = cli(home, "import", str(big), "--reread", *db)

    assert "45.0k/45.0k" in shown  # rows done of rows in the file
    assert re.search(r"rows/s", shown)
    assert re.search(r"<\d\d:\d\d", shown)  # time left
    assert "rows/s" not in piped.stderr + piped.stdout
    assert all(line.startswith("{") for line in piped.stderr.splitlines())


def test_a_multi_file_import_ends_with_one_total_line(home: Path) -> None:
    """Several files: one summary line each, then one total line with the sums."""
    for name in ("a.csv", "b.csv"):
        shutil.copy(SAMPLE, home / name)
    result = cli(
        home,
        "import",
        "a.csv",
        "b.csv",
        "--database",
        f"sqlite:///{home / 'j.sqlite3'}",
        "--source-timezone",
        "UTC",
    )
    *_, last = result.stdout.splitlines()
    assert last == "total: 2 files (imported=2) inserted=6 duplicates=6 rejected=0 conflicts=0"


# -- 9. the example configuration and the README -----------------------------------------


def test_the_example_configuration_names_every_key_and_loads_as_the_defaults(
    tmp_path: Path,
) -> None:
    """examples/config.toml: every setting (active or commented), each active one at its default."""
    example = REPO / "examples" / "config.toml"
    text = example.read_text(encoding="utf-8")
    keys = set(re.findall(r"^#? ?([a-z_]+) = ", text, flags=re.MULTILINE))
    internal = {"config_file", "database_password", "given", "origins"}
    fields = {f.name for f in dataclasses.fields(Settings)} - internal
    assert keys == fields
    loaded = load_settings(environ={}, config_file=example)
    defaults = load_settings(environ={})
    assert dataclasses.replace(loaded, config_file=None) == defaults
    commented = re.findall(r"^# ([a-z_]+ = .+)$", text, flags=re.MULTILINE)
    trial = tmp_path / "uncommented.toml"
    trial.write_text(
        "\n".join(c for c in commented if not c.startswith(("watch_dir", "archive_dir")))
    )
    assert load_settings(environ={}, config_file=trial).source_timezone == "America/Chicago"


def test_run_alembic_works_as_the_readme_writes_it(tmp_path: Path) -> None:
    """`./run alembic upgrade head` from the checkout migrates the configured database."""
    url = f"sqlite:///{tmp_path / 'j.sqlite3'}"
    env = clean_env(tmp_path, CSV_IMPORT_DATABASE_URL=url)
    up = subprocess.run(
        ["bash", str(REPO / "run"), "alembic", "upgrade", "head"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )
    assert up.returncode == 0, up.stderr
    assert "./run alembic upgrade head" in (REPO / "README.md").read_text(encoding="utf-8")
    current = cli(tmp_path, "db", "current", "--database", url)
    assert current.stdout.strip() == "0019_trades_commission_source"


def test_readme_quick_start_names_the_packages_an_install_needs() -> None:
    """The README says to install python3-venv, and acl for setfacl or a group instead."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "apt-get install python3-venv acl" in readme
    assert "chgrp -R csv-import" in readme  # the group-based alternative to setfacl
    assert "sudo -u csv-import csv-import-daemon status" in readme
