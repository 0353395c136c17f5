"""The journal remembers how its files are read.

The settings that decide stored values (source zone; date order and decimal mark when set;
default account) are recorded per instance when first used; a command without them uses
the recorded ones, one with other values is refused (exit 2) unless it is a repair, and a
repair's settings stay with its file for later appends and re-reads. ``status`` shows how
each file is read, and a successful repair clears the problems it fixed.
"""

from __future__ import annotations

import json
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select

from csv_import_daemon.db.tables import FILES, TRADES
from support.daemon import DaemonProcess
from support.processes import journal_cli
from support.waiting import wait_for

HEADER = (
    "Instrument,Action,Quantity,Price,Time,ID,E/X,Position,Order ID,Name,Commission,"
    "Rate,Account,Connection,"
)
SEMI_HEADER = HEADER.replace(",", ";")
# The host's zone in every command here: a journal must never fall back to it.
HOST = {"TZ": "Etc/UTC"}


def row(execution_id: str, time: str, *, price: str = "21539.50", sep: str = ",") -> str:
    fields = [
        "MNQ MAR25",
        "Buy",
        "1",
        price,
        time,
        execution_id,
        "Entry",
        "1 L",
        "",
        "Entry",
        "$0.52" if sep == "," else "1,500",
        "1",
        "Sim101",
        "Sim",
        "",
    ]
    return sep.join(fields)


def write(path: Path, lines: list[str], header: str = HEADER) -> Path:
    path.write_bytes(("\r\n".join([header, *lines]) + "\r\n").encode("utf-8"))
    return path


def append(path: Path, line: str) -> None:
    with path.open("ab") as f:
        f.write((line + "\r\n").encode("utf-8"))


def cli(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return journal_cli(database_url, *args, instance="pc", env={**HOST, **env})


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def stored(database_url: str) -> dict[str, datetime]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(TRADES.c.execution_id, TRADES.c.executed_at))
            return {r.execution_id: r.executed_at for r in rows}
    finally:
        engine.dispose()


def checkpoint(database_url: str, path: Path) -> dict[str, Any]:
    engine: Engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            found = conn.execute(select(FILES).where(FILES.c.path == str(path))).mappings()
            return dict(found.one())
    finally:
        engine.dispose()


def status_json(database_url: str) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(ok(cli(database_url, "status", "--json")))
    return report


def file_of(report: dict[str, Any], path: Path) -> dict[str, Any]:
    (found,) = [f for f in report["files"] if f["path"] == str(path)]
    return found


# -- the journal remembers the zone -----------------------------------------------------------


def test_a_later_import_without_the_zone_reads_in_the_recorded_one(
    database_url: str, tmp_path: Path
) -> None:
    """Quick start: the first import gives the zone; a later one without it reads 9:31 New
    York as 14:31Z (not 09:31Z in the host's zone), and status shows New York."""
    first = write(tmp_path / "a.csv", [row("A1", "1/28/2025 9:31:00 AM")])
    later = write(tmp_path / "b.csv", [row("B1", "1/28/2025 9:31:00 AM")])
    ok(cli(database_url, "import", str(first), "--source-timezone", "America/New_York"))
    ok(cli(database_url, "import", str(later)))
    assert stored(database_url)["B1"] == datetime(2025, 1, 28, 14, 31)
    report = status_json(database_url)
    assert report["settings"]["source_timezone"] == "America/New_York"
    assert file_of(report, later)["source_timezone"] == "America/New_York"
    shown = ok(cli(database_url, "db", "settings"))
    assert "source_timezone=America/New_York" in shown


def test_reports_show_times_in_the_recorded_zone(database_url: str, tmp_path: Path) -> None:
    """Imported in New York on a UTC host: ``round-trips``, ``pnl`` and the journal page,
    run without a zone, show 9:31 as 09:31 New York (not 14:31, the host's UTC)."""
    first = write(tmp_path / "a.csv", [row("A1", "1/28/2025 9:31:00 AM")])
    ok(cli(database_url, "import", str(first), "--source-timezone", "America/New_York"))
    (trip,) = json.loads(ok(cli(database_url, "round-trips", "--json")))
    assert trip["opened_at_local"].startswith("2025-01-28T09:31:00")
    page = tmp_path / "page.html"
    ok(cli(database_url, "report", "--out", str(page), XDG_STATE_HOME=str(tmp_path)))
    assert "America/New_York" in page.read_text(encoding="utf-8")


def test_another_zone_is_refused_naming_the_recorded_one_until_changed(
    database_url: str, tmp_path: Path
) -> None:
    """An import given another zone by flag exits 2, naming the recorded zone and `db
    settings`; nothing is stored. After `db settings` the new zone is the one."""
    first = write(tmp_path / "a.csv", [row("A1", "1/28/2025 9:31:00 AM")])
    other = write(tmp_path / "c.csv", [row("C1", "1/28/2025 9:31:00 AM")])
    ok(cli(database_url, "import", str(first), "--source-timezone", "America/New_York"))
    refused = cli(database_url, "import", str(other), "--source-timezone", "America/Chicago")
    assert refused.returncode == 2, refused.stderr
    assert "America/New_York" in refused.stderr
    assert "db settings --source-timezone" in refused.stderr
    assert "C1" not in stored(database_url)

    ok(cli(database_url, "db", "settings", "--source-timezone", "America/Chicago"))
    ok(cli(database_url, "import", str(other)))
    assert stored(database_url)["C1"] == datetime(2025, 1, 28, 15, 31)
    assert status_json(database_url)["settings"]["source_timezone"] == "America/Chicago"


def test_a_configured_zone_gives_way_to_the_recorded_one(database_url: str, tmp_path: Path) -> None:
    """After `db settings --source-timezone America/Chicago`, a configuration file (or
    variable) still saying New York is left over: import, status and verify run in Chicago,
    each warning with both zones, where the old one is written and the command."""
    first = write(tmp_path / "a.csv", [row("A1", "1/28/2025 9:31:00 AM")])
    other = write(tmp_path / "c.csv", [row("C1", "1/28/2025 9:31:00 AM")])
    config = tmp_path / "config.toml"
    config.write_text('source_timezone = "America/New_York"\n', encoding="utf-8")
    ok(cli(database_url, "import", str(first), "--config", str(config)))
    ok(cli(database_url, "db", "settings", "--source-timezone", "America/Chicago"))
    for command in (["import", str(other)], ["status"], ["verify"]):
        done = cli(database_url, *command, "--config", str(config))
        assert done.returncode == 0, (command, done.stderr)
        (kept,) = [e for e in events(done.stderr) if e["event"] == "recorded_setting_kept"]
        assert (kept["configured"], kept["recorded"]) == ("America/New_York", "America/Chicago")
        assert kept["configured_in"] == str(config)
        assert "db settings --source-timezone America/New_York" in kept["fix"]
    assert stored(database_url)["C1"] == datetime(2025, 1, 28, 15, 31)
    variable = {"CSV_IMPORT_SOURCE_TIMEZONE": "America/New_York"}
    done = cli(database_url, "status", **variable)
    assert done.returncode == 0, done.stderr
    assert "CSV_IMPORT_SOURCE_TIMEZONE" in done.stderr


def events(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def test_a_date_order_set_once_is_recorded_and_another_refused(
    database_url: str, tmp_path: Path
) -> None:
    """`auto` records nothing; the first `--date-order dmy` is recorded, used by a later
    import without it, and `--date-order mdy` is then refused."""
    first = write(tmp_path / "a.csv", [row("A1", "28/01/2025 9:31:00")])
    (tmp_path / "other").mkdir()
    later = write(tmp_path / "other" / "b.csv", [row("B1", "03/08/2026 9:31:00")])
    ok(cli(database_url, "import", str(first), "--source-timezone", "UTC", "--date-order", "dmy"))
    ok(cli(database_url, "import", str(later)))
    assert stored(database_url)["B1"] == datetime(2026, 8, 3, 9, 31)
    refused = cli(database_url, "import", str(later), "--date-order", "mdy")
    assert refused.returncode == 2
    assert "'dmy'" in refused.stderr


@pytest.mark.daemon
def test_the_daemon_runs_in_the_recorded_zone_and_refuses_another(
    database_url: str, tmp_path: Path
) -> None:
    """A daemon started with another zone than the journal recorded exits 2 naming it;
    one started without a zone reads in the recorded one."""
    watch = tmp_path / "watch"
    watch.mkdir()
    first = write(tmp_path / "a.csv", [row("A1", "1/28/2025 9:31:00 AM")])
    ok(cli(database_url, "import", str(first), "--source-timezone", "America/New_York"))
    with DaemonProcess(watch, database_url, "--instance-name", "pc") as refused:
        assert refused.wait_exit(60) == 2  # it was given --source-timezone UTC
        assert "America/New_York" in refused.log_text()


class _DaemonWithoutZone(DaemonProcess):
    """The test daemon without its ``--source-timezone UTC``: the journal's zone decides."""

    def command(self) -> list[str]:
        words = super().command()
        at = words.index("--source-timezone")
        return words[:at] + words[at + 2 :]


@pytest.mark.daemon
def test_a_daemon_started_without_a_zone_reads_in_the_recorded_one(
    database_url: str, tmp_path: Path
) -> None:
    """Recorded New York by the first import; the daemon, given no zone on a UTC host, reads
    9:31 as New York time (14:31Z) and says so in its reading_settings event."""
    watch = tmp_path / "watch"
    watch.mkdir()
    first = write(tmp_path / "a.csv", [row("A1", "1/28/2025 9:31:00 AM")])
    ok(cli(database_url, "import", str(first), "--source-timezone", "America/New_York"))
    daemon = _DaemonWithoutZone(watch, database_url, "--instance-name", "pc", env=HOST)
    with daemon.start() as d:
        d.wait_ready(timeout=60)
        write(watch / "b.csv", [row("B1", "1/28/2025 9:31:00 AM")])
        wait_for(lambda: "B1" in stored(database_url), True, what="the dropped file")
        event = d.wait_event("reading_settings")
        assert event["source_timezone"] == "America/New_York"
        d.stop_cleanly()
    assert stored(database_url)["B1"] == datetime(2025, 1, 28, 14, 31)


@pytest.mark.daemon
def test_a_daemon_whose_configuration_file_is_left_over_runs_in_the_recorded_zone(
    database_url: str, tmp_path: Path
) -> None:
    """Its configuration file says New York, `db settings` changed the journal to Chicago:
    the daemon starts (no exit 2), warns naming both, and reads in Chicago."""
    watch = tmp_path / "watch"
    watch.mkdir()
    config = tmp_path / "config.toml"
    config.write_text('source_timezone = "America/New_York"\n', encoding="utf-8")
    first = write(tmp_path / "a.csv", [row("A1", "1/28/2025 9:31:00 AM")])
    ok(cli(database_url, "import", str(first), "--config", str(config)))
    ok(cli(database_url, "db", "settings", "--source-timezone", "America/Chicago"))
    daemon = _DaemonWithoutZone(
        watch, database_url, "--instance-name", "pc", "--config", str(config), env=HOST
    )
    with daemon.start() as d:
        d.wait_ready(timeout=60)
        kept = d.wait_event("recorded_setting_kept")
        assert (kept["configured"], kept["recorded"]) == ("America/New_York", "America/Chicago")
        write(watch / "b.csv", [row("B1", "1/28/2025 9:31:00 AM")])
        wait_for(lambda: "B1" in stored(database_url), True, what="the dropped file")
        d.stop_cleanly()
    assert stored(database_url)["B1"] == datetime(2025, 1, 28, 15, 31)


# -- a repair's settings stay with the file ---------------------------------------------------


def test_a_repair_as_the_first_command_records_nothing(database_url: str, tmp_path: Path) -> None:
    """A journal's first command is a repair in London: nothing is recorded by it, and the
    next plain import (New York) records its own zone."""
    path = write(tmp_path / "a.csv", [row("A1", "1/28/2025 9:31:00 AM")])
    repair = ("--reread", "--replace", "--source-timezone", "Europe/London", str(path))
    ok(cli(database_url, "import", *repair))
    assert "source_timezone" not in ok(cli(database_url, "db", "settings"))
    later = write(tmp_path / "b.csv", [row("B1", "1/28/2025 9:31:00 AM")])
    ok(cli(database_url, "import", str(later), "--source-timezone", "America/New_York"))
    assert "source_timezone=America/New_York" in ok(cli(database_url, "db", "settings"))


def test_a_repair_refuses_a_zone_given_by_variable_naming_the_flag(
    database_url: str, tmp_path: Path
) -> None:
    """`CSV_IMPORT_SOURCE_TIMEZONE=... import --reread --replace` is not read with the
    recorded zone (nothing repaired, exit 0) nor with the variable's (maybe left over): it
    is refused (exit 2) naming the flag, and nothing changes; the flag then repairs."""
    path = write(tmp_path / "a.csv", [row("A1", "1/28/2025 9:31:00 AM")])
    ok(cli(database_url, "import", str(path), "--source-timezone", "America/New_York"))
    variable = {"CSV_IMPORT_SOURCE_TIMEZONE": "America/Chicago"}
    refused = cli(database_url, "import", "--reread", "--replace", str(path), **variable)
    assert refused.returncode == 2, refused.stderr
    assert "CSV_IMPORT_SOURCE_TIMEZONE" in refused.stderr
    assert "--source-timezone America/Chicago" in refused.stderr
    assert stored(database_url)["A1"] == datetime(2025, 1, 28, 14, 31)  # New York, as before
    repair = ("--reread", "--replace", "--source-timezone", "America/Chicago", str(path))
    ok(cli(database_url, "import", *repair, **variable))
    assert stored(database_url)["A1"] == datetime(2025, 1, 28, 15, 31)


def test_a_configured_auto_leaves_the_recorded_date_order_to_a_repair(
    database_url: str, tmp_path: Path
) -> None:
    """`date_order = "auto"` in a configuration file (as the example writes it) sets
    nothing: a repair reads with the recorded dmy, with no refusal and no warning."""
    path = write(tmp_path / "uk.csv", [row("U1", "03/08/2026 9:31:00")])
    ok(cli(database_url, "import", str(path), "--source-timezone", "UTC", "--date-order", "dmy"))
    config = tmp_path / "config.toml"
    config.write_text('date_order = "auto"\n', encoding="utf-8")
    repair = cli(
        database_url, "import", "--reread", "--replace", str(path), "--config", str(config)
    )
    assert repair.returncode == 0, repair.stderr
    assert not [e for e in events(repair.stderr) if e["event"] == "recorded_setting_kept"]
    assert stored(database_url)["U1"] == datetime(2026, 8, 3, 9, 31)


def test_a_repairs_zone_and_date_order_stay_with_the_file(
    database_url: str, tmp_path: Path
) -> None:
    """After `--reread --replace --source-timezone America/Chicago --date-order dmy`, a line
    appended later is read in Chicago, day-first; the README's recipe for missing rows
    (`import --reread`) records no conflict and keeps the file's reading."""
    path = write(
        tmp_path / "uk.csv", [row("U1", "03/08/2026 9:31:00"), row("U2", "04/08/2026 9:31:00")]
    )
    ok(cli(database_url, "import", str(path), "--source-timezone", "America/New_York"))
    repair = cli(
        database_url,
        "import",
        "--reread",
        "--replace",
        "--source-timezone",
        "America/Chicago",
        "--date-order",
        "dmy",
        str(path),
    )
    ok(repair)
    assert stored(database_url)["U1"] == datetime(2026, 8, 3, 14, 31)  # CDT, UTC-5

    append(path, row("U3", "05/08/2026 9:31:00"))
    ok(cli(database_url, "import", str(path)))
    assert stored(database_url)["U3"] == datetime(2026, 8, 5, 14, 31)

    again = ok(cli(database_url, "import", "--reread", str(path)))
    assert "conflicts=0" in again
    cp = checkpoint(database_url, path)
    assert (cp["source_timezone"], cp["date_order"], cp["conflicts"]) == (
        "America/Chicago",
        "dmy",
        0,
    )
    assert stored(database_url)["U1"] == datetime(2026, 8, 3, 14, 31)
    # The instance's record is unchanged by the repair.
    assert status_json(database_url)["settings"]["source_timezone"] == "America/New_York"


# -- status shows each file's reading; a repair leaves a clean state --------------------------


def test_status_shows_each_files_zone_date_order_and_mark(
    database_url: str, tmp_path: Path
) -> None:
    """Text and JSON: the zone, the date order with what settled it, the decimal mark."""
    path = write(tmp_path / "a.csv", [row("A1", "28/01/2025 9:31:00")])
    ok(cli(database_url, "import", str(path), "--source-timezone", "Europe/London"))
    f = file_of(status_json(database_url), path)
    assert (f["source_timezone"], f["date_order"], f["date_order_source"]) == (
        "Europe/London",
        "dmy",
        "content",
    )
    assert f["decimal_mark"] == "."
    text = ok(cli(database_url, "status"))
    assert "read in Europe/London, date order dmy (file), decimal mark ." in text


def test_a_successful_repair_clears_the_problems_it_fixed(
    database_url: str, tmp_path: Path
) -> None:
    """Rows rejected as ambiguous_decimal, then repaired with --decimal-mark ',': the file
    has no problem left and status no hint; the old rejections stay as history."""
    path = write(
        tmp_path / "eu.csv",
        [row("E1", "28/01/2025 9:31:00", price="1,250", sep=";")],
        header=SEMI_HEADER,
    )
    ok(cli(database_url, "import", str(path), "--source-timezone", "UTC"))
    assert file_of(status_json(database_url), path)["problem"] == "rejections"
    ok(cli(database_url, "import", "--reread", "--replace", "--decimal-mark", ",", str(path)))
    report = status_json(database_url)
    f = file_of(report, path)
    assert (f["problem"], f["rejected"], f["pinned_decimal_mark"]) == (None, 0, ",")
    assert report["rejections"] == 1  # history
    text = ok(cli(database_url, "status"))
    assert "rejected 0" in text
    assert "--reread --replace" not in text
