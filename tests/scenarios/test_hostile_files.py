"""Hostile files: whatever lands in the folder, the daemon logs a clear reason naming the
file (and the line, for a row), imports every good row the file holds, keeps running and
keeps its memory bounded.

Most tests share one daemon per database (SQLite, PostgreSQL) started for this module with
``--log-level debug``; each drops its own files. The daemon's peak resident memory
(``VmHWM``) is checked after every test. The several-hundred-MB file runs with --release.
"""

from __future__ import annotations

import codecs
import os
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, bindparam, text

from csv_import_daemon.config.settings import Settings, load_settings
from csv_import_daemon.importing.service import ImportService
from support.daemon import DaemonProcess, start_daemon
from support.journal import Journal
from support.postgres import Databases
from support.rows import HEADER, clock, csv_text, ids_of, make_row, make_rows
from support.waiting import wait_for

MEMORY_CAP_MB = 350  # peak RSS allowed whatever the input (about 60 MB idle, 200 MB busy)
BIG_CI_MB = 50
BIG_RELEASE_MB = 400
SEED = 20251031


# -- the shared daemon -------------------------------------------------------------------------


@dataclass
class Hostile:
    """The module's daemon, its folder and its database."""

    daemon: DaemonProcess
    watch: Path
    journal: Journal
    backend: str

    def drop(self, name: str, data: bytes) -> Path:
        """Write a file beside the folder, then move it in whole (as a finished export)."""
        staging = self.watch.parent / "staging"
        staging.mkdir(exist_ok=True)
        (staging / name).write_bytes(data)
        os.rename(staging / name, self.watch / name)
        return self.watch / name

    def event(self, name: str, path: Path, **fields: Any) -> dict[str, Any]:
        """The first log event ``name`` about ``path`` with these field values."""
        return self.daemon.wait_event(
            name,
            lambda e: e.get("file") == str(path) and all(e.get(k) == v for k, v in fields.items()),
        )

    def rejections(self, path: Path) -> list[tuple[int, str]]:
        return [
            (r["line"], r["reason"])
            for r in self.journal.rows(
                "SELECT line, reason FROM import_rejections WHERE source_file = :f ORDER BY line",
                f=str(path),
            )
        ]

    def rejected_lines_logged(self, path: Path) -> list[tuple[int, str]]:
        return sorted(
            (e["line"], e["reason"])
            for e in self.daemon.events("row_rejected")
            if e["file"] == str(path)
        )

    def count_from(self, path: Path) -> int:
        return int(
            self.journal.scalar("SELECT count(*) FROM trades WHERE source_file = :f", f=str(path))
        )

    def stored(self, ids: set[str]) -> set[str]:
        """Which of ``ids`` the trades table holds."""
        query = text("SELECT execution_id FROM trades WHERE execution_id IN :ids").bindparams(
            bindparam("ids", expanding=True)
        )
        wanted, found = sorted(ids), set[str]()
        with self.journal.engine.connect() as conn:
            for i in range(0, len(wanted), 500):
                found.update(conn.execute(query, {"ids": wanted[i : i + 500]}).scalars())
        return found

    def trade(self, execution_id: str) -> dict[str, Any]:
        found = self.journal.rows("SELECT * FROM trades WHERE execution_id = :e", e=execution_id)
        assert len(found) == 1, found
        return found[0]


def peak_memory_mb(pid: int) -> int:
    """The process's peak resident set (VmHWM) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmHWM in /proc status")


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def hostile(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hostile]:
    """One daemon per database for the module's tests, stopped cleanly at the end."""
    root = tmp_path_factory.mktemp(f"hostile-{request.param}")
    watch = root / "watch"
    watch.mkdir()
    databases: Databases | None = None
    if request.param == "sqlite":
        url = f"sqlite:///{root / 'journal.sqlite3'}"
    else:
        databases = request.getfixturevalue("postgres_databases")
        url = databases.create()
    journal = Journal(url)
    try:
        with start_daemon(watch, url, "--log-level", "debug") as daemon:
            yield Hostile(daemon, watch, journal, request.param)
            assert daemon.returncode is None, daemon.log_text()[-3000:]
            daemon.stop_cleanly()
    finally:
        journal.close()
        if databases is not None:
            databases.drop(url)


@pytest.fixture
def h(hostile: Hostile) -> Iterator[Hostile]:
    """The shared daemon; after the test it must still run, within its memory bound."""
    yield hostile
    assert hostile.daemon.returncode is None, hostile.daemon.log_text()[-3000:]
    assert peak_memory_mb(hostile.daemon.pid) < MEMORY_CAP_MB


# -- building hostile content ------------------------------------------------------------------


def line_with(index: int, **columns: str) -> tuple[str, str]:
    """A good row with some columns replaced: (execution ID, line)."""
    row = make_row(index)
    fields = row.line.split(",")
    names = {
        "instrument": 0,
        "action": 1,
        "quantity": 2,
        "price": 3,
        "time": 4,
        "id": 5,
        "name": 9,
        "commission": 10,
        "account": 12,
    }
    for key, value in columns.items():
        fields[names[key]] = value
    return row.execution_id, ",".join(fields)


def lines(*texts: str) -> bytes:
    return "".join(t + "\n" for t in (HEADER, *texts)).encode()


def bulk_file(path: Path, megabytes: int) -> set[str]:
    """A file of ``megabytes`` MB of distinct good rows, written fast; their IDs.

    One fill a second, buy then sell, in an account of its own: the reader's memory is
    the point here. Round trips hold the fills of the span they recompute (one second, an
    open round trip); in the other tests' account this file would join their open position.
    """
    tag = uuid.uuid4().hex[:8]
    template = (
        "MNQ 12-25,{action},1,21000.25,{when},{tag}{i:024d},Entry,1 L,,Entry,"
        "$0.52,1,BULK1,Simulated Data Feed,\n"
    )
    start_at = datetime(2025, 10, 31, 9, 30, 0)
    per_row = len(template.format(tag=tag, i=0, action="Sell", when=clock(start_at)))
    count = megabytes * 1_000_000 // per_row
    with open(path, "w", encoding="utf-8") as f:
        f.write(HEADER + "\n")
        for start in range(0, count, 50_000):
            f.write(
                "".join(
                    template.format(
                        tag=tag,
                        i=i,
                        action="Buy" if i % 2 == 0 else "Sell",
                        when=clock(start_at + timedelta(seconds=i)),
                    )
                    for i in range(start, min(count, start + 50_000))
                )
            )
    return {f"{tag}{i:024d}" for i in range(count)}


# -- the files -----------------------------------------------------------------------------------


@pytest.mark.daemon
def test_empty_file_waits_for_a_header_then_imports_what_follows(h: Hostile) -> None:
    """An empty file is logged as waiting for its header; rows written later are imported."""
    path = h.drop("empty.csv", b"")
    event = h.event("import", path, status="empty")
    assert "waiting for a header line" in event["message"]
    rows = make_rows(2, start=100)
    with open(path, "a", encoding="utf-8") as f:
        f.write(csv_text(rows))
    wait_for(lambda: h.stored(ids_of(rows)), ids_of(rows))


@pytest.mark.daemon
def test_header_only_file_imports_nothing_and_rejects_nothing(h: Hostile) -> None:
    """A header alone: checkpoint at its end, no rows, no rejections."""
    path = h.drop("header-only.csv", lines())
    wait_for(lambda: (h.journal.checkpoint(path) or {}).get("offset"), path.stat().st_size)
    assert h.rejections(path) == []
    assert h.journal.rows("SELECT * FROM trades WHERE source_file = :f", f=str(path)) == []


@pytest.mark.daemon
def test_random_binary_is_refused_with_a_reason(h: Hostile) -> None:
    """Random bytes: refused once, the message names the file and says what was expected."""
    path = h.drop("binary.csv", random.Random(SEED).randbytes(200_000))
    event = h.event("import_refused", path)
    assert "does not look like a NinjaTrader Executions export" in event["message"]
    assert str(path) in event["message"]
    assert (h.journal.checkpoint(path) or {}).get("status") == "refused"


@pytest.mark.daemon
def test_megabytes_without_a_line_break_are_refused_once_quiet(h: Hostile) -> None:
    """MBs without a line break, or only NUL bytes, are refused with a reason: a first
    line over 64 KB at once, a shorter one once quiet."""
    long_line = h.drop("no-line-break.csv", b"x," * 2_500_000)
    zeros = h.drop("nul-only.csv", b"\x00" * 65_536)
    short = h.drop("short-nul.csv", b"\x00" * 60_000)
    for path in (long_line, zeros):
        event = h.event("import_refused", path)
        assert "the header line is longer than 64 KB" in event["message"]
    event = h.event("import_refused", short)
    assert "does not look like a NinjaTrader Executions export" in event["message"]


@pytest.mark.daemon
def test_nul_bytes_reject_their_lines_only(h: Hostile) -> None:
    """A NUL inside a row and a line of NULs are rejected by line; the other rows import."""
    good = [make_row(i) for i in range(200, 203)]
    bad_id, bad = line_with(203, account="SIM\x00101")
    path = h.drop("nul.csv", lines(good[0].line, bad, "\x00" * 300, good[1].line, good[2].line))
    wait_for(lambda: h.stored(ids_of(good)), ids_of(good))
    wait_for(lambda: h.rejections(path), [(3, "bad_text"), (4, "field_count")])
    assert h.rejected_lines_logged(path) == [(3, "bad_text"), (4, "field_count")]
    raw = h.journal.rows(
        "SELECT raw, detail FROM import_rejections WHERE source_file = :f AND line = 3", f=str(path)
    )[0]
    assert "\x00" not in raw["raw"]
    assert "Account contains a NUL character" in raw["detail"]
    assert bad_id not in h.journal.ids()


@pytest.mark.daemon
def test_cp1252_account_names_are_decoded(h: Hostile) -> None:
    """Windows-1252 bytes in an account name decode and import beside UTF-8 lines."""
    latin_id, latin = line_with(210, account="Müller€")
    utf8_id, utf8 = line_with(211, account="Zürich")
    data = (HEADER + "\n").encode() + latin.encode("cp1252") + b"\n" + (utf8 + "\n").encode()
    h.drop("cp1252.csv", data)
    wait_for(lambda: h.stored({latin_id, utf8_id}), {latin_id, utf8_id})
    assert h.trade(latin_id)["account"] == "Müller€"
    assert h.trade(utf8_id)["account"] == "Zürich"


@pytest.mark.daemon
def test_utf16_file_with_bom_is_decoded_and_imported(h: Hostile) -> None:
    """UTF-16 LE with a BOM and CRLF, as Windows tools save "Unicode" text."""
    rows = [line_with(220 + i, account=f"Jürgen {i}") for i in range(3)]
    text_ = "".join(t + "\r\n" for t in (HEADER, *(line for _, line in rows)))
    path = h.drop("unicode.csv", codecs.BOM_UTF16_LE + text_.encode("utf-16-le"))
    ids = {eid for eid, _ in rows}
    wait_for(lambda: h.stored(ids), ids)
    assert [h.trade(eid)["account"] for eid, _ in rows] == ["Jürgen 0", "Jürgen 1", "Jürgen 2"]
    wait_for(lambda: (h.journal.checkpoint(path) or {}).get("offset"), path.stat().st_size)


@pytest.mark.daemon
def test_line_of_several_megabytes_is_rejected_and_the_rest_imported(h: Hostile) -> None:
    """A 5 MB line is rejected by line number; the rows around it import."""
    good = [make_row(i) for i in range(230, 232)]
    _, huge = line_with(232, name="N" * 5_000_000)
    path = h.drop("huge-line.csv", lines(good[0].line, huge, good[1].line))
    wait_for(lambda: h.stored(ids_of(good)), ids_of(good))
    assert h.rejections(path) == [(3, "line_too_long")]
    assert h.rejected_lines_logged(path) == [(3, "line_too_long")]
    raw = h.journal.rows("SELECT raw FROM import_rejections WHERE source_file = :f", f=str(path))[
        0
    ]["raw"]
    assert len(raw) <= 4096


@pytest.mark.daemon
def test_thousands_of_fields_and_wrong_field_counts_are_rejected(h: Hostile) -> None:
    """Too few fields, 5,000 fields or a value past the last column are rejected by line."""
    # A value past the header's last named column means an unquoted comma shifted the row;
    # an empty trailing field (the add-on's trailing comma) is fine.
    good = [make_row(i) for i in range(240, 243)]
    few = ",".join(make_row(243).line.split(",")[:10])
    many = ",".join(["x"] * 5000)
    _, shifted = line_with(244, name="Stop,1")  # unquoted comma: every column after shifts
    path = h.drop(
        "field-counts.csv",
        lines(good[0].line, few, many, shifted, good[1].line, good[2].line + ","),
    )
    wait_for(lambda: h.stored(ids_of(good)), ids_of(good))
    wait_for(
        lambda: h.rejections(path), [(3, "field_count"), (4, "field_count"), (5, "field_count")]
    )
    details = {
        e["line"]: e["detail"] for e in h.daemon.events("row_rejected") if e["file"] == str(path)
    }
    assert details[4] == "expected 15 fields, got 5000"


@pytest.mark.daemon
def test_invalid_and_impossible_dates_are_rejected(h: Hostile) -> None:
    """Invalid and impossible dates and times are rejected by line, the value shown."""
    good = make_row(250)
    bad_times = [
        "2/30/2025 10:00:00 AM",
        "13/13/2025 1:00:00 PM",
        "1/28/2025 25:00:00",
        "yesterday",
        "1/1/1800 1:00:00 AM",
        "1/1/99999 1:00:00 AM",
        "",
    ]
    bad = [line_with(251 + i, time=t)[1] for i, t in enumerate(bad_times)]
    path = h.drop("dates.csv", lines(good.line, *bad))
    wait_for(lambda: h.stored({good.execution_id}), {good.execution_id})
    want = [(3 + i, "bad_time") for i in range(len(bad_times))]
    wait_for(lambda: h.rejections(path), want)
    details = {
        e["line"]: e["detail"] for e in h.daemon.events("row_rejected") if e["file"] == str(path)
    }
    assert "'2/30/2025 10:00:00 AM'" in details[3]


@pytest.mark.daemon
def test_zero_negative_and_absurd_numbers_are_rejected_rows_not_failed_batches(h: Hostile) -> None:
    """Zero, negative and oversized numbers are rejected rows; the largest that fit store."""
    # "Absurd" means too big for its column (INTEGER, NUMERIC(20,8)): stored as is, such a
    # value would fail the whole batch on PostgreSQL; it must be one rejected row instead.
    bad = {
        "quantity 0": {"quantity": "0"},
        "quantity -1": {"quantity": "-1"},
        "quantity 2^31": {"quantity": "2147483648"},
        "quantity 1.5": {"quantity": "1.5"},
        "price 0": {"price": "0"},
        "price -5": {"price": "-5"},
        "price 13 digits": {"price": "1000000000000"},
        "price 9 decimals": {"price": "1.123456789"},
        "price 1e308": {"price": "1e308"},
        "price NaN": {"price": "NaN"},
        "price Infinity": {"price": "Infinity"},
        "commission 17 digits": {"commission": "$99999999999999999"},
    }
    bad_lines = [line_with(260 + i, **cols)[1] for i, cols in enumerate(bad.values())]
    big_id, biggest = line_with(280, quantity="2147483647", price="999999999999.99999999")
    path = h.drop("numbers.csv", lines(*bad_lines, biggest))
    wait_for(lambda: h.stored({big_id}), {big_id})
    reasons = [r for _, r in wait_for(lambda: h.rejections(path), lambda r: len(r) == len(bad))]
    assert reasons == ["bad_quantity"] * 4 + ["bad_price"] * 7 + ["bad_commission"]
    stored = h.trade(big_id)
    assert stored["quantity"] == 2147483647
    assert Decimal(str(stored["price"])) == Decimal("999999999999.99999999")


@pytest.mark.daemon
def test_formula_like_text_is_stored_as_plain_text(h: Hostile) -> None:
    """Spreadsheet formulas in text columns are data: stored exactly, never evaluated."""
    formula = "=cmd|' /C calc'!A0"
    eid, line = line_with(290, name=formula, account="@SUM(1+1)")
    quoted_id, quoted = line_with(291, name='"=HYPERLINK(""http://x"",""y"")"')
    h.drop("formulas.csv", lines(line, quoted))
    wait_for(lambda: h.stored({eid, quoted_id}), {eid, quoted_id})
    assert (h.trade(eid)["order_name"], h.trade(eid)["account"]) == (formula, "@SUM(1+1)")
    assert h.trade(quoted_id)["order_name"] == '=HYPERLINK("http://x","y")'


@pytest.mark.daemon
def test_file_deleted_while_being_read_keeps_the_daemon_going(h: Hostile) -> None:
    """A large file deleted mid-import is read to its end; the daemon goes on."""
    path = h.watch.parent / "deleted.csv"
    ids = bulk_file(path, 12)
    os.rename(path, h.watch / "deleted.csv")
    path = h.watch / "deleted.csv"
    wait_for(lambda: h.count_from(path), lambda n: n > 0, timeout=60)
    path.unlink()
    wait_for(lambda: h.count_from(path), len(ids), timeout=120)
    after = make_rows(2, start=300)
    h.drop("after-delete.csv", csv_text(after).encode())
    wait_for(lambda: h.stored(ids_of(after)), ids_of(after))


@pytest.mark.daemon
def test_file_truncated_while_being_read_is_read_again(h: Hostile) -> None:
    """A large file cut short mid-import and appended: read again, nothing twice."""
    path = h.watch.parent / "truncated.csv"
    ids = bulk_file(path, 12)
    os.rename(path, h.watch / "truncated.csv")
    path = h.watch / "truncated.csv"
    wait_for(lambda: h.count_from(path), lambda n: n > 0, timeout=60)
    with open(path, "r+b") as f:
        f.seek(0)
        head = f.read(200_000)
        f.truncate(head.rindex(b"\n") + 1)
    kept = {line.split(",")[5] for line in head[: head.rindex(b"\n")].decode().splitlines()[1:]}
    more = make_rows(3, start=310)
    with open(path, "a", encoding="utf-8") as f:
        f.write(csv_text(more, header=False))
    wait_for(lambda: h.stored(kept | ids_of(more)), kept | ids_of(more), timeout=120)
    assert h.count_from(path) <= len(ids | ids_of(more))
    wait_for(
        lambda: (h.journal.checkpoint(path) or {}).get("offset"), path.stat().st_size, timeout=60
    )
    assert h.rejections(path) == []


def test_truncated_under_the_reader_between_batches(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """In-process: a file cut short right after a batch commit; the next read starts over."""
    # The deterministic twin of the daemon test above: the cut happens in the progress
    # callback, between two committed batches of the same read.
    cfg = load_settings(
        {
            "database_url": settings.database_url,
            "instance_name": "test-host",
            "source_timezone": "UTC",
            "batch_size": 100,
            "settle": 0.0,
        },
        environ={},
    )
    rows = make_rows(450)
    path = tmp_path / "shrinking.csv"
    path.write_text(csv_text(rows))
    cut = len(csv_text(rows[:40]))

    class Truncate:
        def committed(self, offset: int, size: int) -> None:
            if path.stat().st_size > cut:
                with open(path, "r+b") as f:
                    f.truncate(cut)

    service = ImportService(engine, cfg)
    first = service.import_file(path, observer=Truncate())
    assert first.status not in ("error", "refused")
    second = service.import_file(path)
    assert second.offset == cut
    with engine.connect() as conn:
        stored = set(conn.execute(text("SELECT execution_id FROM trades")).scalars())
        rejected = conn.execute(text("SELECT count(*) FROM import_rejections")).scalar()
    assert ids_of(rows[:40]) <= stored <= ids_of(rows)
    assert rejected == 0


def _import_big_file(h: Hostile, staging: Path, megabytes: int, timeout: float) -> None:
    if h.backend != "sqlite":
        pytest.skip("memory is the reader's business; one database is enough")
    ids = bulk_file(staging, megabytes)
    path = h.watch / staging.name
    os.rename(staging, path)
    wait_for(lambda: h.count_from(path), len(ids), timeout=timeout)
    assert len(h.stored(ids)) == len(ids)
    assert peak_memory_mb(h.daemon.pid) < MEMORY_CAP_MB


@pytest.mark.daemon
def test_big_file_imports_with_bounded_memory(h: Hostile, tmp_path: Path) -> None:
    """A 50 MB file imports whole while the daemon's peak memory stays under the cap."""
    _import_big_file(h, tmp_path / "big.csv", BIG_CI_MB, timeout=240)


@pytest.mark.daemon
@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_several_hundred_megabyte_file_imports_with_the_same_memory_bound(
    h: Hostile, tmp_path: Path, release: bool
) -> None:
    """A 400 MB file (--release only) imports under the same memory cap as 50 MB."""
    if not release:
        pytest.skip("several hundred MB: run with --release")
    _import_big_file(h, tmp_path / "bigger.csv", BIG_RELEASE_MB, timeout=3000)


# -- all of them at once ---------------------------------------------------------------------


def hostile_set() -> dict[str, bytes]:
    """One of each hostile file, for a single daemon."""
    rng = random.Random(SEED)
    _, nul = line_with(400, account="A\x00B")
    _, latin = line_with(401, account="Müller")
    _, huge = line_with(402, name="N" * 3_000_000)
    _, dates = line_with(403, time="2/30/2025 10:00:00 AM")
    _, zero = line_with(404, quantity="0")
    _, absurd = line_with(405, price="99999999999999999999")
    _, formula = line_with(406, name="=cmd|' /C calc'!A0")
    utf16 = "".join(t + "\r\n" for t in (HEADER, line_with(407)[1])).encode("utf-16-le")
    return {
        "h-empty.csv": b"",
        "h-header.csv": lines(),
        "h-binary.csv": rng.randbytes(100_000),
        "h-no-newline.csv": b"x" * 2_000_000,
        "h-nul.csv": lines(nul, "\x00" * 100),
        "h-latin.csv": (HEADER + "\n").encode() + latin.encode("cp1252") + b"\n",
        "h-utf16.csv": codecs.BOM_UTF16_LE + utf16,
        "h-huge-line.csv": lines(huge),
        "h-fields.csv": lines(",".join(["x"] * 3000), "a,b,c"),
        "h-dates.csv": lines(dates),
        "h-numbers.csv": lines(zero, absurd),
        "h-formula.csv": lines(formula),
    }


@pytest.mark.daemon
def test_daemon_survives_every_hostile_file_in_one_folder(
    tmp_path: Path, database_url: str
) -> None:
    """Every hostile file at once: reasons logged, a good file afterwards still imported."""
    watch = tmp_path / "watch"
    watch.mkdir()
    files = hostile_set()
    for name, data in files.items():
        (watch / name).write_bytes(data)
    journal = Journal(database_url)
    try:
        with start_daemon(watch, database_url, "--log-level", "debug") as d:
            refused = {"h-binary.csv", "h-no-newline.csv"}
            wait_for(lambda: {Path(e["file"]).name for e in d.events("import_refused")}, refused)
            wait_for(
                lambda: {Path(e["file"]).name for e in d.events("row_rejected")},
                {"h-nul.csv", "h-huge-line.csv", "h-fields.csv", "h-dates.csv", "h-numbers.csv"},
            )
            wait_for(journal.trades, 3)  # the Latin-1, UTF-16 and formula rows
            good = make_rows(5, start=500)
            (watch / "after-all.csv").write_text(csv_text(good))
            wait_for(lambda: journal.ids() & ids_of(good), ids_of(good))
            assert d.returncode is None
            assert peak_memory_mb(d.pid) < MEMORY_CAP_MB
            assert not d.events("import_crashed")
            assert d.stop(30) == 0, d.log_text()[-3000:]
    finally:
        journal.close()
