"""The command line, run as a user runs it: a subprocess, its exit code, stdout and stderr."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect

from csv_import_daemon.config.settings import load_settings
from csv_import_daemon.db import migrate
from csv_import_daemon.db.engine import make_engine
from support.processes import CLI, clean_env, run_cli
from support.rows import HEADER

GOOD_SAMPLES = {
    "NinjaTrader_Executions_20251031.csv": 2,
    "grid-export-en-us.csv": 6,
    "grid-export-eu-semicolon.csv": 2,
    "NinjaTrader Grid 2026-08-10 06-10 PM.csv": 4,
}
TRADES_GRID = "trades-grid-not-executions.csv"
UNREACHABLE = "postgresql+psycopg://nobody:secret@127.0.0.1:1/x"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The working folder of each command; the default database would land under it."""
    path = tmp_path / "home"
    path.mkdir()
    return path


def cli(
    home: Path,
    *args: str,
    env: dict[str, str] | None = None,
    command: tuple[str, ...] = CLI,
) -> subprocess.CompletedProcess[str]:
    """Run the command with a clean environment: no CSV_IMPORT_* unless given."""
    state = {"XDG_STATE_HOME": str(home / "state"), "XDG_CONFIG_HOME": str(home / "config")}
    return run_cli(*args, cwd=home, env={**state, **(env or {})}, command=command)


def cli_all(
    home: Path,
    runs: dict[str, tuple[tuple[str, ...], dict[str, str]]],
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Several independent commands at once (each with its own database), then their results."""
    state = {"XDG_STATE_HOME": str(home / "state"), "XDG_CONFIG_HOME": str(home / "config")}
    started = {
        name: (
            args,
            subprocess.Popen(
                [*CLI, *args],
                cwd=home,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=clean_env({**state, **env}),
            ),
        )
        for name, (args, env) in runs.items()
    }
    results = {}
    for name, (args, proc) in started.items():
        out, err = proc.communicate(timeout=120)
        results[name] = subprocess.CompletedProcess(args, proc.returncode, out, err)
    return results


def summary(stdout: str) -> dict[str, str]:
    """File name -> its summary line, from `import` output."""
    out = {}
    for line in stdout.splitlines():
        if line.startswith("total: "):
            continue
        path, _, rest = line.partition(": ")
        out[Path(path).name] = rest
    return out


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


# -- import ------------------------------------------------------------------------------


def test_import_samples_then_again_then_renamed_copies(
    home: Path, samples: Path, database_url: str, tmp_path: Path
) -> None:
    """Samples: counts then exit 1 for the Trades grid; again: unchanged; copies: duplicates."""
    tz = ("--source-timezone", "America/New_York", "--database", database_url)

    first = cli(home, "import", str(samples), *tz)
    again = cli(home, "import", *(str(samples / n) for n in sorted(GOOD_SAMPLES)), *tz)
    copies = tmp_path / "copies"
    copies.mkdir()
    for name in GOOD_SAMPLES:
        shutil.copyfile(samples / name, copies / f"copy-{name}")
    copied = cli(home, "import", str(copies), *tz)

    assert first.returncode == 1, first.stderr
    lines = summary(first.stdout)
    for name, rows in GOOD_SAMPLES.items():
        assert lines[name] == (f"imported inserted={rows} duplicates=0 rejected=0 conflicts=0")
    assert lines[TRADES_GRID].startswith("refused inserted=0")
    assert "'Trades' export" in lines[TRADES_GRID]
    assert all(isinstance(e["event"], str) for e in json_lines(first.stderr))
    assert any(
        e["event"] == "import_refused" and e["level"] == "warning" and "Trades" in str(e["message"])
        for e in json_lines(first.stderr)
    )

    assert again.returncode == 0, again.stderr
    assert set(summary(again.stdout).values()) == {
        "unchanged inserted=0 duplicates=0 rejected=0 conflicts=0"
    }

    assert copied.returncode == 0, copied.stderr
    assert summary(copied.stdout) == {
        f"copy-{n}": f"imported inserted=0 duplicates={rows} rejected=0 conflicts=0"
        for n, rows in GOOD_SAMPLES.items()
    }

    status = cli(home, "status", "--json", "--database", database_url)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)  # stdout is the JSON document and nothing else
    assert (report["trades"], report["ledger"]) == (14, 14)
    assert len(report["files"]) == 9
    assert all(line.startswith("{") for line in status.stderr.splitlines())


def test_rejected_rows_exit_0_reread_and_a_missing_file_exits_1(home: Path) -> None:
    """Bad rows still exit 0; --reread reads the file again; a file that is gone exits 1."""
    good_and_bad = home / "mixed.csv"
    good_and_bad.write_text(
        HEADER + "\r\n"
        "MNQ MAR25,Buy,1,21539.50,1/28/2025 10:59:52 AM,G1,Entry,-,,,$0.00,1,Sim101,X,\r\n"
        "MNQ MAR25,Buy,1,cheap,1/28/2025 10:59:52 AM,B1,Entry,-,,,$0.00,1,Sim101,X,\r\n"
    )
    database = ("--database", f"sqlite:///{home / 'j.sqlite3'}", "--source-timezone", "UTC")

    mixed = cli(home, "import", str(good_and_bad), *database)
    reread = cli(home, "import", str(good_and_bad), "--reread", *database)
    missing = cli(home, "import", str(home / "gone.csv"), *database)

    assert mixed.returncode == 0, mixed.stderr
    assert summary(mixed.stdout)["mixed.csv"] == (
        "imported inserted=1 duplicates=0 rejected=1 conflicts=0"
    )
    assert any(
        e["event"] == "row_rejected" and e["reason"] == "bad_price"
        for e in json_lines(mixed.stderr)
    )
    assert reread.returncode == 0, reread.stderr
    assert summary(reread.stdout)["mixed.csv"] == (
        "imported inserted=0 duplicates=1 rejected=1 conflicts=0"
    )
    assert missing.returncode == 1
    assert "gone.csv: error" in missing.stdout
    assert "vanished" in missing.stdout


# -- usage and configuration errors: exit 2 ----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        pytest.param(["--date-order", "ymd"], {}, "choose from", id="flag-date-order"),
        pytest.param(
            ["--source-timezone", "Mars/Olympus"],
            {},
            "not an IANA time zone name; use a name such as America/New_York",
            id="timezone",
        ),
        pytest.param(
            ["--config", "bad.toml"],
            {},
            "unknown setting 'watch_folder'; known settings",
            id="toml-key",
        ),
    ],
)
def test_configuration_errors_exit_2_saying_what_is_allowed(
    home: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    """A bad --date-order, time zone or TOML key exits 2 and names what is allowed."""
    (home / "bad.toml").write_text('watch_folder = "/srv/exports"\n')
    result = cli(home, "import", "x.csv", *args, env=env)
    assert result.returncode == 2
    assert message in result.stderr
    if "--date-order" in args:
        assert all(order in result.stderr for order in ("auto", "mdy", "dmy"))
    assert result.stdout == ""
    assert not (home / "state").exists()  # nothing was created


# -- database unavailable: exit 3 ----------------------------------------------------------


def test_unreachable_database_exits_3_with_a_clear_message(home: Path) -> None:
    """A database that cannot be reached exits 3, says which one (no password), prints nothing."""
    (home / "x.csv").write_text(HEADER + "\r\n")
    result = cli(home, "import", "x.csv", "--database", UNREACHABLE)

    assert result.returncode == 3
    (event,) = json_lines(result.stderr)
    assert event["event"] == "database_unavailable"
    assert "cannot use database postgresql+psycopg://nobody:***@127.0.0.1:1/x" in str(
        event["error"]
    )
    assert "secret" not in result.stderr
    assert result.stdout == ""


def test_default_journal_folder_that_cannot_be_created_exits_3(home: Path) -> None:
    """The default state folder that cannot be made is an unavailable database, not a traceback."""
    blocker = home / "not-a-folder"
    blocker.write_text("")
    (home / "x.csv").write_text(HEADER + "\r\n")
    result = cli(home, "import", "x.csv", env={"XDG_STATE_HOME": str(blocker)})
    assert result.returncode == 3
    assert "cannot create its folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unmigrated_database_without_migrations_allowed_exits_3_untouched(
    home: Path, samples: Path
) -> None:
    """With run_migrations off, an old schema exits 3 naming the fix, and nothing is written."""
    database = home / "j.sqlite3"
    result = cli(
        home,
        "import",
        str(samples),
        "--database",
        f"sqlite:///{database}",
        env={"CSV_IMPORT_RUN_MIGRATIONS": "false"},
    )

    assert result.returncode == 3
    assert "run `csv-import-daemon db upgrade`" in result.stderr
    assert result.stdout == ""
    engine = make_engine(
        load_settings(
            {"database_url": f"sqlite:///{database}", "source_timezone": "UTC"}, environ={}
        )
    )
    try:
        assert migrate.current(engine) is None
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


# -- settings precedence -----------------------------------------------------------------------


def test_settings_precedence_defaults_toml_environment_flags(home: Path) -> None:
    """Flag beats environment beats TOML (--config beats CSV_IMPORT_CONFIG) beats the default."""
    db = {name: home / name / "j.sqlite3" for name in ("other", "env", "flag")}
    outranked = home / "toml" / "j.sqlite3"  # CSV_IMPORT_CONFIG's, beaten in every run below
    (home / "settings.toml").write_text(f'database_url = "sqlite:///{outranked}"\n')
    (home / "other.toml").write_text(f'database_url = "sqlite:///{db["other"]}"\n')
    env_db = {"CSV_IMPORT_DATABASE_URL": f"sqlite:///{db['env']}"}
    env_config = {"CSV_IMPORT_CONFIG": str(home / "settings.toml")}
    for path in db.values():  # an explicitly given journal's folder must exist
        path.parent.mkdir()

    runs = cli_all(
        home,
        {
            "flag": (
                (
                    "db",
                    "upgrade",
                    "--config",
                    "settings.toml",
                    "--database",
                    f"sqlite:///{db['flag']}",
                ),
                env_db,
            ),
            "env": (("db", "upgrade"), {**env_db, **env_config}),
            "other": (("db", "upgrade", "--config", "other.toml"), env_config),
            "default": (("db", "upgrade"), {}),
        },
    )

    assert {name: (r.returncode, r.stdout.strip()) for name, r in runs.items()} == {
        name: (0, migrate.head()) for name in runs
    }
    assert all(path.exists() for path in db.values())
    assert not (home / "toml").exists()
    default = home / "state" / "csv-import-daemon" / "journal.sqlite3"
    assert default.exists()
    for path in [*db.values(), default]:  # each command created exactly its own database
        engine = make_engine(
            load_settings(
                {"database_url": f"sqlite:///{path}", "source_timezone": "UTC"}, environ={}
            )
        )
        assert migrate.current(engine) == migrate.head()
        engine.dispose()


# -- db subcommands ----------------------------------------------------------------------------


def test_db_upgrade_downgrade_and_current(home: Path, database_url: str) -> None:
    """`db upgrade REV` and `db downgrade REV` move the schema and print the new revision."""
    url = ("--database", database_url)

    steps = [
        cli(home, "db", "upgrade", "0002_imported_executions", *url),
        cli(home, "db", "downgrade", "0001_trades", *url),
    ]

    assert [(s.returncode, s.stdout.strip()) for s in steps] == [
        (0, "0002_imported_executions"),
        (0, "0001_trades"),
    ]
    engine = make_engine(
        load_settings({"database_url": database_url, "source_timezone": "UTC"}, environ={})
    )
    try:
        assert migrate.current(engine) == "0001_trades"
    finally:
        engine.dispose()


def test_db_with_an_unknown_revision_exits_2_listing_the_revisions(home: Path) -> None:
    """`db upgrade NONSENSE` is a usage error naming the revisions there are, not a traceback."""
    result = cli(home, "db", "upgrade", "nonsense", "--database", f"sqlite:///{home / 'j.sqlite3'}")
    assert result.returncode == 2
    assert "Can't locate revision identified by 'nonsense'" in result.stderr
    assert "use head, base or one of 0001_trades, 0002_imported_executions" in result.stderr
    assert "Traceback" not in result.stderr


# -- entry points and logging -------------------------------------------------------------------


def test_python_dash_m_is_the_console_script(home: Path) -> None:
    """`python -m csv_import_daemon` and `csv-import-daemon` give the same help and results."""
    script = (str(Path(sys.executable).with_name("csv-import-daemon")),)
    database = ("--database", f"sqlite:///{home / 'j.sqlite3'}")

    helps = [cli(home, "--help"), cli(home, "--help", command=script)]
    upgraded = cli(home, "db", "upgrade", "0001_trades", *database, command=script)
    current = cli(home, "db", "current", *database, command=script)

    assert helps[0].returncode == helps[1].returncode == 0
    assert helps[0].stdout == helps[1].stdout
    assert "usage: csv-import-daemon" in helps[0].stdout
    assert upgraded.returncode == 0, upgraded.stderr
    assert (current.returncode, current.stdout) == (0, "0001_trades\n")


def test_console_log_format_and_level(home: Path, samples: Path) -> None:
    """--log-format console renders text lines; --log-level warning hides info events."""
    result = cli(
        home,
        "import",
        str(samples),
        "--database",
        f"sqlite:///{home / 'j.sqlite3'}",
        "--source-timezone",
        "UTC",
        "--log-format",
        "console",
        "--log-level",
        "warning",
    )

    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines
    assert not any(line.startswith("{") for line in lines)
    assert any("import_refused" in line for line in lines)
    assert not any("migrated" in line for line in lines)
    assert len(summary(result.stdout)) == 5  # results still on stdout


def test_a_folder_of_daily_files_gives_what_importing_them_one_by_one_gives(
    home: Path, tmp_path: Path
) -> None:
    """Six daily files whose positions carry over from day to day, imported as a folder
    (small files share transactions) and one command per file: the same trades, the same
    round trips, each equal to a rebuild."""
    from datetime import date, timedelta  # noqa: PLC0415

    from support.rows import ExecutionGenerator, write_export  # noqa: PLC0415
    from support.trip_reference import stored_round_trips  # noqa: PLC0415
    from support.trips import assert_tables_equal_a_rebuild  # noqa: PLC0415

    folder = tmp_path / "daily"
    folder.mkdir()
    gen = ExecutionGenerator(5, first_day=date(2025, 3, 3))
    for _ in range(6):
        write_export(folder / f"NinjaTrader_Executions_{gen.day:%Y%m%d}.csv", gen, 120)
        gen.start_day(gen.day + timedelta(days=1))
    zone = ("--source-timezone", "America/New_York")
    together, apart = tmp_path / "together.sqlite3", tmp_path / "apart.sqlite3"
    done = cli(home, "import", str(folder), *zone, "--database", f"sqlite:///{together}")
    assert done.returncode == 0, done.stderr
    assert [Path(line.split(": ")[0]).name for line in done.stdout.splitlines()[:-1]] == sorted(
        p.name for p in folder.iterdir()
    )
    for path in sorted(folder.iterdir()):
        one = cli(home, "import", str(path), *zone, "--database", f"sqlite:///{apart}")
        assert one.returncode == 0, one.stderr
    engines = [
        make_engine(load_settings({"database_url": f"sqlite:///{db}"}, environ={}))
        for db in (together, apart)
    ]
    try:
        for engine in engines:
            assert_tables_equal_a_rebuild(engine)
        tables = []
        for engine in engines:
            with engine.connect() as conn:
                trades = conn.exec_driver_sql(
                    "SELECT execution_id, quantity, price, executed_at FROM trades "
                    "ORDER BY execution_id"
                ).all()
            tables.append((trades, stored_round_trips(engine)))
        assert tables[0] == tables[1]
        assert len(tables[0][0]) == 720
    finally:
        for engine in engines:
            engine.dispose()
