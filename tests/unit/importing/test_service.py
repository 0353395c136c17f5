"""ImportService against a real database: every execution exactly once, bad rows survived."""

from __future__ import annotations

import dataclasses
import itertools
import os
import shutil
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.db.tables import FILES, LEDGER, REJECTIONS, TRADES
from csv_import_daemon.files import reader
from csv_import_daemon.files.names import path_key
from csv_import_daemon.importing.result import ImportResult
from csv_import_daemon.importing.service import ImportService
from support.rows import HEADER, grid_line, write_lines

NO_ID_HEADER = "Instrument,Action,Quantity,Price,Time,E/X,Position,Name,Commission,Account,"
SAMPLE_COUNTS = {
    "grid-export-en-us.csv": 6,
    "grid-export-eu-semicolon.csv": 2,
    "NinjaTrader Grid 2026-08-10 06-10 PM.csv": 4,
    "NinjaTrader_Executions_20251031.csv": 2,
}


def row(execution_id: str, **columns: Any) -> str:
    """One line of an en-US grid export (the HEADER layout)."""
    return grid_line(execution_id=execution_id, **columns)


def no_id_row(**columns: Any) -> str:
    """One line of a grid export with the ID column hidden (the NO_ID_HEADER layout)."""
    return grid_line(header=NO_ID_HEADER, **columns)


def write_csv(path: Path, lines: list[str], header: str = HEADER, newline: str = "\r\n") -> Path:
    return write_lines(path, lines, header=header, newline=newline)


def append(path: Path, data: str) -> None:
    with open(path, "ab") as f:
        f.write(data.encode("utf-8"))


def trades(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        return {r["execution_id"]: dict(r) for r in conn.execute(select(TRADES)).mappings()}


def ledger_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(LEDGER.c.execution_id)).scalars())


def rejections(engine: Engine, path: Path | None = None) -> list[dict[str, Any]]:
    query = select(REJECTIONS).order_by(REJECTIONS.c.line, REJECTIONS.c.id)
    if path is not None:
        query = query.where(REJECTIONS.c.source_file == path_key(path))
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def checkpoint(engine: Engine, path: Path) -> dict[str, Any]:
    with engine.connect() as conn:
        found = conn.execute(select(FILES).where(FILES.c.path == path_key(path))).mappings()
        return dict(found.one())


def counts(result: ImportResult) -> tuple[int, int, int, int]:
    return result.inserted, result.duplicates, result.rejected, result.conflicts


@pytest.fixture
def service(engine: Engine, settings: Settings) -> ImportService:
    return ImportService(engine, settings)


def import_all(service: ImportService, folder: Path, **kwargs: Any) -> dict[str, ImportResult]:
    return {
        p.name: service.import_file(p, final_line_ok=True, **kwargs)
        for p in sorted(folder.iterdir())
    }


# -- the sample files ------------------------------------------------------------------


def test_samples_into_an_empty_database(
    service: ImportService, engine: Engine, samples: Path
) -> None:
    """Grid export adds 6, European 2, no-ID 4, daily file 2; the Trades grid is refused."""
    results = import_all(service, samples)

    assert {n: r.inserted for n, r in results.items() if n in SAMPLE_COUNTS} == SAMPLE_COUNTS
    assert all(
        r.status == "imported" and counts(r)[1:] == (0, 0, 0)
        for n, r in results.items()
        if n in SAMPLE_COUNTS
    )
    refused = results["trades-grid-not-executions.csv"]
    assert refused.status == "refused"
    assert "'Trades' export" in refused.message
    assert "expected an Executions export" in refused.message
    assert len(trades(engine)) == 14
    assert len(ledger_ids(engine)) == 14


def test_importing_the_samples_again_changes_nothing(
    service: ImportService, engine: Engine, samples: Path
) -> None:
    """A second import of unchanged files reports each as unchanged and adds nothing."""
    import_all(service, samples)

    again = import_all(service, samples)

    assert {n: r.status for n, r in again.items()} == {
        **dict.fromkeys(SAMPLE_COUNTS, "unchanged"),
        "trades-grid-not-executions.csv": "refused",
    }
    assert all(counts(r) == (0, 0, 0, 0) for r in again.values())
    assert len(trades(engine)) == 14


def test_renamed_copies_of_the_samples_are_all_duplicates(
    service: ImportService, engine: Engine, samples: Path, tmp_path: Path
) -> None:
    """Copies under new names add nothing: every row is reported as a duplicate."""
    import_all(service, samples)
    copies = tmp_path / "copies"
    copies.mkdir()
    for name in SAMPLE_COUNTS:
        shutil.copyfile(samples / name, copies / f"renamed-{name}")

    results = import_all(service, copies)

    assert {n.removeprefix("renamed-"): counts(r) for n, r in results.items()} == {
        n: (0, rows, 0, 0) for n, rows in SAMPLE_COUNTS.items()
    }
    assert len(trades(engine)) == 14


def test_grid_export_rows_are_stored_exactly(
    service: ImportService, engine: Engine, samples: Path
) -> None:
    """Every value of the en-US grid export is stored as written, times in UTC, IDs as text."""
    path = samples / "grid-export-en-us.csv"
    service.import_file(path, final_line_ok=True)
    stored = trades(engine)

    def expect(
        eid: str,
        account: str,
        instrument: str,
        action: str,
        entry_exit: str,
        quantity: int,
        price: str,
        at: str,
        commission: str,
        order_id: str | None,
        order_name: str | None,
        position: str,
        line: int,
    ) -> None:
        got = stored[eid]
        assert {
            k: got[k]
            for k in (
                "account",
                "instrument",
                "action",
                "entry_exit",
                "quantity",
                "price",
                "executed_at",
                "commission",
                "order_id",
                "order_name",
                "connection",
                "position_after",
                "source_file",
                "source_line",
            )
        } == {
            "account": account,
            "instrument": instrument,
            "action": action,
            "entry_exit": entry_exit,
            "quantity": quantity,
            "price": Decimal(price),
            "executed_at": datetime.fromisoformat(at),
            "commission": Decimal(commission),
            "order_id": order_id,
            "order_name": order_name,
            "connection": "ATF NinjaTrader",
            "position_after": position,
            "source_file": path_key(path),
            "source_line": line,
        }
        assert isinstance(got["price"], Decimal)
        assert isinstance(got["commission"], Decimal)

    order_a, order_b = "258aa78f1aaa420ea8de80a4c1292789", "123698bff44045ef81f45b6a59a61be6"
    expect(
        "e6c4685b7fa74bb6a8af5cacebc76cb7",
        "Sim101",
        "MNQ MAR25",
        "Buy",
        "Entry",
        9,
        "21539.50",
        "2025-01-28 15:59:52",
        "0",
        order_a,
        "158012701254",
        "9 L",
        2,
    )
    expect(
        "14a8742a4ded432980180c537a8bdf0c",
        "Sim101",
        "MNQ MAR25",
        "Buy",
        "Entry",
        1,
        "21539.75",
        "2025-01-28 15:59:52",
        "0",
        order_a,
        "158012701254",
        "10 L",
        3,
    )
    expect(
        "51ffcc4bd918474cac55756c91676067",
        "Sim101",
        "MNQ MAR25",
        "Sell",
        "Exit",
        6,
        "21535.75",
        "2025-01-28 16:01:29",
        "0",
        order_b,
        "P||4524",
        "4 L",
        4,
    )
    expect(
        "685964c1846d4f38abd3f9f69ba6179a",
        "Sim101",
        "MNQ MAR25",
        "Sell",
        "Exit",
        4,
        "21535.50",
        "2025-01-28 16:01:29",
        "0",
        order_b,
        "P||4524",
        "-",
        5,
    )
    expect(
        "158012701257",
        "APEX1279810000026",
        "NQ MAR25",
        "Buy",
        "Entry",
        1,
        "21539.75",
        "2025-01-28 15:59:51",
        "1.55",
        None,
        None,
        "-",
        6,
    )
    expect(
        "158015081194",
        "APEX1279810000027",
        "NQ MAR25",
        "Buy",
        "Entry",
        1,
        "21538.75",
        "2025-01-28 15:59:51",
        "1.55",
        None,
        None,
        "-",
        7,
    )
    assert set(stored) == {
        "e6c4685b7fa74bb6a8af5cacebc76cb7",
        "14a8742a4ded432980180c537a8bdf0c",
        "51ffcc4bd918474cac55756c91676067",
        "685964c1846d4f38abd3f9f69ba6179a",
        "158012701257",
        "158015081194",
    }
    with engine.connect() as conn:  # the ledger names the file (audit trail)
        entry = (
            conn.execute(select(LEDGER).where(LEDGER.c.execution_id == "158012701257"))
            .mappings()
            .one()
        )
    assert (entry["csv_filename"], entry["account"], entry["instrument"]) == (
        "grid-export-en-us.csv",
        "APEX1279810000026",
        "NQ MAR25",
    )


def test_european_daily_and_no_id_samples_are_stored_exactly(
    service: ImportService, engine: Engine, samples: Path
) -> None:
    """Decimal commas, `0,62 $`, the daily file's BOM and trailing space, and stand-in IDs."""
    import_all(service, samples)
    stored = trades(engine)

    eu = stored["601743f828ce41728b67d8c9ba4a56ab"]
    assert (eu["price"], eu["commission"], eu["executed_at"], eu["action"], eu["account"]) == (
        Decimal("7200.75"),
        Decimal("0.62"),
        datetime(2026, 4, 27, 10, 5, 2),
        "Sell",
        "Playback101",
    )
    assert stored["9b1f0c3e5d2a4e7f8a6b3c1d0e9f8a7b"]["price"] == Decimal("7196.25")

    daily = stored["7f3a9c2e1b4d4f6a8c0e2b4d6f8a0c2e"]
    assert (
        daily["instrument"],
        daily["price"],
        daily["commission"],
        daily["executed_at"],
        daily["connection"],
        daily["account"],
    ) == (
        "MNQ 12-25",
        Decimal("21482.50"),
        Decimal("0.52"),
        datetime(2025, 10, 31, 13, 30, 15),
        "Apex Trader Funding",
        "APEX1279810000057",
    )
    assert stored["2c4e6a8b0d1f3a5c7e9b1d3f5a7c9e0b"]["order_name"] == "Target1"

    no_id = sorted(
        (t["source_line"], t["executed_at"], t["action"], t["quantity"], t["price"])
        for eid, t in stored.items()
        if t["account"] == "TAKEPROFIT385029293"
    )
    assert no_id == [
        # day-first: its export's name (the moment of the export) settles it
        (2, datetime(2026, 8, 10, 22, 7, 25), "Buy", 1, Decimal("29783.25")),
        (3, datetime(2026, 8, 10, 22, 7, 25), "Buy", 1, Decimal("29783.25")),
        (4, datetime(2026, 8, 10, 22, 4, 13), "Buy", 1, Decimal("29761.75")),
        (5, datetime(2026, 8, 10, 22, 3, 7), "Sell", 4, Decimal("29767.00")),
    ]
    assert all(
        eid.startswith("ntm-") for eid, t in stored.items() if t["account"] == "TAKEPROFIT385029293"
    )


def test_money_ids_and_prices_are_stored_exactly(
    service: ImportService, engine: Engine, tmp_path: Path
) -> None:
    """`$$0.52`, `($1.50)`, empty commission; 12-digit IDs stay text; 8-decimal prices exact."""
    path = write_csv(
        tmp_path / "money.csv",
        [
            row("m1", commission="$$0.52"),
            row("m2", commission="($1.50)"),
            row("m3", commission=""),
            row("m4", commission="4.04", price='"20,015.00"'),
            row("158012701257", price="0.00000001"),
            row("000158012701", price="123456789012.12345678"),
        ],
    )
    result = service.import_file(path, final_line_ok=True)
    stored = trades(engine)

    assert counts(result) == (6, 0, 0, 0)
    assert stored["m1"]["commission"] == Decimal("0.52")
    assert stored["m2"]["commission"] == Decimal("-1.50")
    assert stored["m3"]["commission"] is None
    assert (stored["m4"]["commission"], stored["m4"]["price"]) == (
        Decimal("4.04"),
        Decimal("20015.00"),
    )
    assert stored["158012701257"]["price"] == Decimal("0.00000001")
    assert stored["000158012701"]["price"] == Decimal("123456789012.12345678")
    assert {"158012701257", "000158012701"} <= ledger_ids(engine)


# -- duplicates, conflicts, deletions --------------------------------------------------


def test_same_id_with_other_content_is_a_conflict_and_the_stored_row_wins(
    service: ImportService, engine: Engine, tmp_path: Path
) -> None:
    """Given a stored fill, a later file with its ID at another price is recorded as a conflict."""
    first = write_csv(tmp_path / "first.csv", [row("X1", price="100.25"), row("X2")])
    service.import_file(first, final_line_ok=True)
    second = write_csv(tmp_path / "second.csv", [row("X1", price="101.00"), row("X2")])

    result = service.import_file(second, final_line_ok=True)

    assert counts(result) == (0, 1, 0, 1)
    assert trades(engine)["X1"]["price"] == Decimal("100.25")
    (conflict,) = rejections(engine, second)
    assert (conflict["reason"], conflict["line"], conflict["execution_id"]) == ("conflict", 2, "X1")
    assert conflict["raw"] == row("X1", price="101.00")
    assert "price: stored 100.25" in conflict["detail"]
    assert "new 101.00" in conflict["detail"]
    assert checkpoint(engine, second)["conflicts"] == 1


def test_same_id_twice_in_one_file(service: ImportService, engine: Engine, tmp_path: Path) -> None:
    """Within one file a repeated identical row is a duplicate, a changed one a conflict."""
    path = write_csv(
        tmp_path / "twice.csv", [row("R1"), row("R1"), row("R1", account="Other"), row("R2")]
    )

    result = service.import_file(path, final_line_ok=True)

    assert counts(result) == (2, 1, 0, 1)
    assert trades(engine)["R1"]["account"] == "Sim101"
    assert [(r["line"], r["reason"]) for r in rejections(engine, path)] == [(4, "conflict")]


def test_a_deleted_trade_is_not_resurrected(
    service: ImportService, engine: Engine, samples: Path, tmp_path: Path
) -> None:
    """A trade deleted from `trades` stays deleted after --reread and after a renamed copy."""
    path = samples / "grid-export-en-us.csv"
    service.import_file(path, final_line_ok=True)
    with engine.begin() as conn:
        conn.execute(TRADES.delete().where(TRADES.c.execution_id == "158012701257"))

    reread = service.import_file(path, reread=True, final_line_ok=True)
    copy = tmp_path / "copy.csv"
    shutil.copyfile(path, copy)
    copied = service.import_file(copy, final_line_ok=True)

    assert counts(reread) == (0, 6, 0, 0)
    assert counts(copied) == (0, 6, 0, 0)
    assert "158012701257" not in trades(engine)
    assert len(trades(engine)) == 5
    assert "158012701257" in ledger_ids(engine)


def test_copy_trade_fills_in_several_accounts_are_all_kept(
    service: ImportService, engine: Engine, tmp_path: Path
) -> None:
    """The same fill copied to three accounts (own IDs, same content) gives three trades."""
    with_ids = write_csv(
        tmp_path / "copy-ids.csv", [row(f"C{n}", account=f"APEX{n}") for n in range(3)]
    )
    without_ids = write_csv(
        tmp_path / "copy-no-ids.csv",
        [no_id_row(account=f"LUCID{n}") for n in range(3)],
        header=NO_ID_HEADER,
    )

    assert service.import_file(with_ids, final_line_ok=True).inserted == 3
    assert service.import_file(without_ids, final_line_ok=True).inserted == 3
    accounts = sorted(t["account"] for t in trades(engine).values())
    assert accounts == ["APEX0", "APEX1", "APEX2", "LUCID0", "LUCID1", "LUCID2"]


def test_overlapping_exports_give_the_union_exactly_once(
    service: ImportService, engine: Engine, tmp_path: Path
) -> None:
    """Two exports sharing a day, rows in another order, give every fill exactly once."""
    monday = [row(f"D1-{n}", time=f"2/17/2025 9:3{n}:00 AM") for n in range(3)]
    tuesday = [row(f"D2-{n}", time=f"2/18/2025 9:3{n}:00 AM") for n in range(3)]
    wednesday = [row(f"D3-{n}", time=f"2/19/2025 9:3{n}:00 AM") for n in range(2)]
    first = write_csv(tmp_path / "mon-tue.csv", monday + tuesday)
    second = write_csv(tmp_path / "tue-wed.csv", list(reversed(wednesday + tuesday)))

    a = service.import_file(first, final_line_ok=True)
    b = service.import_file(second, final_line_ok=True)

    assert counts(a) == (6, 0, 0, 0)
    assert counts(b) == (2, 3, 0, 0)
    assert set(trades(engine)) == {r.split(",")[5] for r in monday + tuesday + wednesday}


def test_a_file_without_ids_reread_gives_the_same_ids(
    service: ImportService, engine: Engine, samples: Path, tmp_path: Path
) -> None:
    """Re-reading a file without IDs, or a copy, yields the same stand-in IDs: 0 inserted."""
    path = samples / "NinjaTrader Grid 2026-08-10 06-10 PM.csv"
    service.import_file(path, final_line_ok=True)
    before = ledger_ids(engine)

    reread = service.import_file(path, reread=True, final_line_ok=True)
    copy = tmp_path / "NinjaTrader Grid 2026-08-10 06-10 PM (1).csv"  # a copy's name
    shutil.copyfile(path, copy)
    copied = service.import_file(copy, final_line_ok=True)

    assert counts(reread) == (0, 4, 0, 0)
    assert counts(copied) == (0, 4, 0, 0)
    assert ledger_ids(engine) == before


def test_genuine_identical_fills_in_a_file_without_ids_are_all_kept(
    service: ImportService, engine: Engine, tmp_path: Path
) -> None:
    """Three identical rows in a file without IDs are three fills, also when appended later."""
    path = write_csv(tmp_path / "same.csv", [no_id_row()] * 3, header=NO_ID_HEADER)

    first = service.import_file(path, final_line_ok=True)
    append(path, no_id_row() + "\r\n")
    appended = service.import_file(path, final_line_ok=True)
    reread = service.import_file(path, reread=True, final_line_ok=True)

    assert counts(first) == (3, 0, 0, 0)
    assert counts(appended) == (1, 0, 0, 0)
    assert counts(reread) == (0, 4, 0, 0)
    assert len(trades(engine)) == 4


def test_stand_in_ids_do_not_depend_on_batch_size(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Identical fills split over several batches still get the IDs a single batch gives."""
    lines = [no_id_row()] * 3 + [no_id_row(price="1.25")] * 2
    small = write_csv(tmp_path / "small-batches.csv", lines, header=NO_ID_HEADER)
    big = write_csv(tmp_path / "one-batch.csv", lines, header=NO_ID_HEADER)

    batched = ImportService(engine, dataclasses.replace(settings, batch_size=2))
    first = batched.import_file(small, final_line_ok=True)
    second = ImportService(engine, settings).import_file(big, final_line_ok=True)

    assert counts(first) == (5, 0, 0, 0)
    assert counts(second) == (0, 5, 0, 0)


# -- bad rows ----------------------------------------------------------------------------


def test_bad_rows_are_recorded_and_the_rest_of_the_file_imports(
    service: ImportService, engine: Engine, tmp_path: Path
) -> None:
    """Bad price, missing account, too-long values and bad quantities become rejections."""
    bad = {
        3: (row("B1", price="abc"), "bad_price"),
        4: (row("B2", account=""), "missing_value"),
        5: (row("B3", account="A" * 60), "too_long"),
        6: (row("B4", quantity="0"), "bad_quantity"),
        7: (row("B5", quantity="-2"), "bad_quantity"),
        8: (row("B6", instrument="I" * 51), "too_long"),
        9: (row("B7", order_id="O" * 65), "too_long"),
        10: (row("X" * 256), "too_long"),
        11: (row("B8", time="13/45/2025 10:00:00 AM"), "bad_time"),
        12: ("MNQ MAR25,Buy,1", "field_count"),
    }
    lines = [row("G1"), *(text for text, _ in bad.values()), row("G2")]
    path = write_csv(tmp_path / "bad.csv", lines)

    result = service.import_file(path, final_line_ok=True)

    assert counts(result) == (2, 0, len(bad), 0)
    assert set(trades(engine)) == {"G1", "G2"}
    got = rejections(engine, path)
    assert [(r["line"], r["raw"], r["reason"]) for r in got] == [
        (line, text, reason) for line, (text, reason) in bad.items()
    ]
    assert all(r["source_file"] == path_key(path) and r["detail"] for r in got)
    assert "account is 60 characters; the column holds at most 50" in got[2]["detail"]
    assert checkpoint(engine, path)["rejected"] == len(bad)


def test_rejections_are_recorded_once_when_a_file_is_reread(
    service: ImportService, engine: Engine, tmp_path: Path
) -> None:
    """Reading a file with a bad row again reports it again but stores it only once."""
    path = write_csv(tmp_path / "bad.csv", [row("G1"), row("B1", price="abc")])
    service.import_file(path, final_line_ok=True)

    again = service.import_file(path, reread=True, final_line_ok=True)

    assert counts(again) == (0, 1, 1, 0)
    assert len(rejections(engine, path)) == 1


def test_blank_lines_are_skipped_silently(
    service: ImportService, engine: Engine, tmp_path: Path
) -> None:
    """Empty lines and lines of bare delimiters are neither trades nor rejections."""
    path = write_csv(tmp_path / "blank.csv", ["", row("G1"), ",,,,,,,,,,,,,,", "", row("G2")])
    result = service.import_file(path, final_line_ok=True)
    assert counts(result) == (2, 0, 0, 0)
    assert rejections(engine, path) == []


_VALID_LINES = [
    row("P1").encode(),
    row("P2", price="1,5").encode(),
    no_id_row().encode(),
    HEADER.encode(),
]
_counter = itertools.count()


@hypothesis_settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    tail=st.lists(
        st.one_of(
            st.binary(max_size=60),
            st.sampled_from(_VALID_LINES),
            st.sampled_from([b"\n", b"\r\n", b"\r", b",", b'"', b"\x00", b"\xff\xfe", b"\xe9"]),
        ),
        max_size=12,
    ).map(b"".join),
    final_line_ok=st.booleans(),
)
def test_arbitrary_bytes_after_a_header_never_raise(
    service: ImportService, engine: Engine, tmp_path: Path, tail: bytes, final_line_ok: bool
) -> None:
    """Bytes after a valid header become trades, rejections or pending bytes, never a raise."""
    path = tmp_path / f"fuzz-{next(_counter)}.csv"
    path.write_bytes(HEADER.encode() + b"\r\n" + tail)

    result = service.import_file(path, final_line_ok=final_line_ok)

    assert result.status in ("imported", "pending"), result.message
    complete, _, partial = tail.rpartition(b"\n")
    lines = complete.split(b"\n") if complete or tail.startswith(b"\n") else []
    meaningful = sum(any(c.isalnum() for c in reader.decode_line(ln, "utf-8")) for ln in lines)
    handled = result.inserted + result.duplicates + result.rejected + result.conflicts
    assert meaningful <= handled <= len(lines) + 1  # +1: a settled final line
    assert result.offset + result.pending_bytes == path.stat().st_size
    assert result.pending_bytes in (0, len(partial))
    stored = rejections(engine, path)
    assert len(stored) == result.rejected + result.conflicts
    assert all(r["reason"] and r["detail"] and r["line"] >= 2 for r in stored)


# -- incremental reading ------------------------------------------------------------------


def test_appended_lines_are_the_only_ones_read(
    service: ImportService, engine: Engine, tmp_path: Path
) -> None:
    """After lines are appended, only the new lines are read; the offset follows the file."""
    path = write_csv(tmp_path / "grow.csv", [row("A1"), row("A2")])
    first = service.import_file(path, final_line_ok=True)
    size_before = path.stat().st_size

    append(path, row("A3") + "\r\n" + row("A4") + "\r\n")
    second = service.import_file(path, final_line_ok=True)

    assert (first.offset, first.lines) == (size_before, 2)
    assert counts(second) == (2, 0, 0, 0)
    assert second.lines == 2
    assert second.offset == path.stat().st_size > size_before
    assert checkpoint(engine, path)["inserted"] == 4
    assert trades(engine)["A4"]["source_line"] == 5


def test_unterminated_last_line_waits_until_it_may_be_final(
    service: ImportService, engine: Engine, tmp_path: Path
) -> None:
    """A last line without newline stays pending until final_line_ok, then is read once."""
    path = write_csv(tmp_path / "open.csv", [row("U1")])
    append(path, row("U2"))
    size = path.stat().st_size

    waiting = service.import_file(path, final_line_ok=False)
    still = service.import_file(path, final_line_ok=False)
    settled = service.import_file(path, final_line_ok=True)
    after = service.import_file(path, final_line_ok=True)

    assert counts(waiting) == (1, 0, 0, 0)
    assert waiting.pending_bytes == len(row("U2"))
    assert waiting.offset == size - len(row("U2"))
    assert checkpoint(engine, path)["pending_bytes"] == 0  # read by `settled` since
    assert (still.status, still.pending_bytes, counts(still)) == (
        "pending",
        len(row("U2")),
        (0, 0, 0, 0),
    )
    assert counts(settled) == (1, 0, 0, 0)
    assert (settled.offset, settled.pending_bytes) == (size, 0)
    assert after.status == "unchanged"
    assert set(trades(engine)) == {"U1", "U2"}


def test_lines_after_a_settled_final_line_keep_their_numbers(
    service: ImportService, engine: Engine, tmp_path: Path
) -> None:
    """A writer that ends lines late (newline first): each line keeps its true line number."""
    path = write_csv(tmp_path / "late-newline.csv", [row("S1")])
    append(path, row("S2"))
    service.import_file(path, final_line_ok=True)

    os.utime(path)  # touched, nothing new: the numbering must not move
    service.import_file(path, final_line_ok=True)
    append(path, "\r\n" + row("S3"))
    service.import_file(path, final_line_ok=True)
    append(path, "\r\n" + row("S4"))
    service.import_file(path, final_line_ok=True)

    assert {k: t["source_line"] for k, t in trades(engine).items()} == {
        "S1": 2,
        "S2": 3,
        "S3": 4,
        "S4": 5,
    }
    assert checkpoint(engine, path)["lines_consumed"] == 5


def test_identical_fill_after_a_settled_final_line_is_kept(
    service: ImportService, engine: Engine, tmp_path: Path
) -> None:
    """No IDs: a fill identical to a final line read before its newline is a new fill."""
    path = write_csv(tmp_path / "same-late.csv", [no_id_row()], header=NO_ID_HEADER)
    append(path, no_id_row())
    first = service.import_file(path, final_line_ok=True)

    append(path, "\r\n" + no_id_row() + "\r\n")
    second = service.import_file(path, final_line_ok=True)
    reread = service.import_file(path, reread=True, final_line_ok=True)

    assert counts(first) == (2, 0, 0, 0)
    assert counts(second) == (1, 0, 0, 0)
    assert counts(reread) == (0, 3, 0, 0)
    assert len(trades(engine)) == 3


def test_unterminated_short_line_stays_pending_even_when_final(
    service: ImportService, engine: Engine, tmp_path: Path
) -> None:
    """A last line with fewer fields than the header is still being written: it is not read."""
    path = write_csv(tmp_path / "half.csv", [row("H1")])
    append(path, "MNQ MAR25,Buy,1,215")

    result = service.import_file(path, final_line_ok=True)
    append(path, row("H2").removeprefix("MNQ MAR25,Buy,1,215") + "\r\n")
    completed = service.import_file(path, final_line_ok=True)

    assert counts(result) == (1, 0, 0, 0)
    assert result.pending_bytes == len("MNQ MAR25,Buy,1,215")
    assert counts(completed) == (1, 0, 0, 0)
    assert trades(engine)["H2"]["price"] == Decimal("21539.50")
    assert rejections(engine, path) == []


def test_a_truncated_file_is_read_from_the_start(
    service: ImportService, engine: Engine, tmp_path: Path
) -> None:
    """A file that shrank is read again from the start; dedup absorbs the rows already stored."""
    path = write_csv(tmp_path / "cut.csv", [row("T1"), row("T2"), row("T3")])
    service.import_file(path, final_line_ok=True)

    write_csv(path, [row("T1"), row("T4")])
    result = service.import_file(path, final_line_ok=True)

    assert counts(result) == (1, 1, 0, 0)
    assert result.offset == path.stat().st_size
    assert set(trades(engine)) == {"T1", "T2", "T3", "T4"}
    assert trades(engine)["T4"]["source_line"] == 3


def test_a_file_rewritten_in_place_is_read_from_the_start(
    service: ImportService, engine: Engine, tmp_path: Path
) -> None:
    """A file rewritten with other first rows (same inode, longer) is read from the start."""
    path = write_csv(tmp_path / "rewrite.csv", [row("W1"), row("W2")])
    service.import_file(path, final_line_ok=True)
    inode = path.stat().st_ino

    with open(path, "r+b") as f:  # same inode, new content
        f.write(
            (
                HEADER
                + "\r\n"
                + row("W0")
                + "\r\n"
                + row("W1")
                + "\r\n"
                + row("W2")
                + "\r\n"
                + row("W3")
                + "\r\n"
            ).encode()
        )
    result = service.import_file(path, final_line_ok=True)

    assert path.stat().st_ino == inode
    assert counts(result) == (2, 2, 0, 0)
    assert set(trades(engine)) == {"W0", "W1", "W2", "W3"}


def test_an_export_saved_over_itself_with_rows_inserted_midway_is_read_again(
    service: ImportService, engine: Engine, tmp_path: Path
) -> None:
    """Same file, same first rows, new fills grouped into the middle: none of them is skipped."""
    account_1 = [row(f"A{n:02d}", account="APEX1") for n in range(15)]  # > 1 KiB: same head
    account_2 = [row(f"B{n:02d}", account="APEX2") for n in range(5)]
    path = write_csv(tmp_path / "executions.csv", account_1 + account_2)
    service.import_file(path, final_line_ok=True)

    later = [row(f"A{n:02d}", account="APEX1") for n in range(15, 18)]
    with open(path, "r+b") as f:  # saved again over the same file: same inode, longer
        f.write(
            ("\r\n".join([HEADER, *account_1, *later, *account_2, row("B05")]) + "\r\n").encode()
        )
    result = service.import_file(path, final_line_ok=True)

    assert counts(result) == (4, 20, 0, 0)
    assert {"A15", "A16", "A17", "B05"} <= set(trades(engine))


def test_a_file_renamed_in_place_keeps_its_checkpoint(
    service: ImportService, engine: Engine, tmp_path: Path
) -> None:
    """A file renamed (same inode) is recognised: nothing read again (the rename changed its
    ctime, so its content is checked), and later appends read once."""
    path = write_csv(tmp_path / "before.csv", [row("N1")])
    service.import_file(path, final_line_ok=True)
    moved = path.rename(tmp_path / "after.csv")

    same = service.import_file(moved, final_line_ok=True)
    append(moved, row("N2") + "\r\n")
    grown = service.import_file(moved, final_line_ok=True)

    assert (same.status, same.rows_read, same.lines) == ("imported", 0, 0)
    assert counts(grown) == (1, 0, 0, 0)
    assert checkpoint(engine, moved)["inserted"] == 2


# -- date order ----------------------------------------------------------------------------


def test_date_order_settled_by_content_is_kept_for_appended_lines(
    service: ImportService, engine: Engine, tmp_path: Path
) -> None:
    """A day-first file (28/01) keeps day-first for later ambiguous lines (03/02 is 3 Feb)."""
    path = write_csv(tmp_path / "eu.csv", [row("E1", time="28/01/2025 15:00:00")])
    service.import_file(path, final_line_ok=True)

    append(path, row("E2", time="03/02/2025 15:00:00") + "\r\n")
    service.import_file(path, final_line_ok=True)

    assert checkpoint(engine, path)["date_order"] == "dmy"
    assert trades(engine)["E2"]["executed_at"] == datetime(2025, 2, 3, 20, 0, 0)


def test_an_unambiguous_date_anywhere_settles_the_whole_file(
    service: ImportService, engine: Engine, tmp_path: Path
) -> None:
    """Ambiguous first rows follow the order shown by a later unambiguous row of the file."""
    path = write_csv(
        tmp_path / "late.csv",
        [row("L1", time="03/02/2025 15:00:00"), row("L2", time="13/02/2025 15:00:00")],
    )
    service.import_file(path, final_line_ok=True)
    assert trades(engine)["L1"]["executed_at"] == datetime(2025, 2, 3, 20, 0, 0)


def test_the_daily_file_name_decides_when_the_content_is_ambiguous(
    service: ImportService, engine: Engine, tmp_path: Path
) -> None:
    """The add-on writes month-first on every PC: '3/2/2025' is 2 March in its file for
    that session, for the next (the evening session carries the next day's name; the name
    refutes 3 February), and for an earlier one (written, then rotated: later days fit, so
    the name settles nothing and the producer decides)."""
    for name, execution_id in (
        ("NinjaTrader_Executions_20250203.csv", "F1"),
        ("NinjaTrader_Executions_20250302.csv", "F2"),
        ("NinjaTrader_Executions_20250303.csv", "F3"),
    ):
        path = write_csv(tmp_path / name, [row(execution_id, time="3/2/2025 3:00:00 PM")])
        service.import_file(path, final_line_ok=True)
    stored = trades(engine)
    assert stored["F1"]["executed_at"] == datetime(2025, 3, 2, 20, 0, 0)
    assert stored["F2"]["executed_at"] == datetime(2025, 3, 2, 20, 0, 0)
    assert stored["F3"]["executed_at"] == datetime(2025, 3, 2, 20, 0, 0)
    assert (
        checkpoint(engine, tmp_path / "NinjaTrader_Executions_20250203.csv")["date_order_source"]
        == "producer"
    )


def test_the_configured_date_order_is_the_last_fallback(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """With ambiguous content and no dated name, --date-order decides; auto decides nothing:
    the row is rejected as ambiguous_date, naming the setting."""
    for configured in ("auto", "mdy", "dmy"):
        service = ImportService(engine, dataclasses.replace(settings, date_order=configured))
        path = write_csv(
            tmp_path / f"export-{configured}.csv", [row(configured, time="03/02/2025 15:00:00")]
        )
        service.import_file(path, final_line_ok=True)
        expected = {"auto": None, "mdy": "mdy", "dmy": "dmy"}[configured]
        assert checkpoint(engine, path)["date_order"] == expected
    assert {k: t["executed_at"] for k, t in trades(engine).items()} == {
        "mdy": datetime(2025, 3, 2, 20, 0, 0),
        "dmy": datetime(2025, 2, 3, 20, 0, 0),
    }
    (rejected,) = rejections(engine, tmp_path / "export-auto.csv")
    assert rejected["reason"] == "ambiguous_date"
    assert "2025-03-02 month-first or 2025-02-03 day-first" in rejected["detail"]
    assert "date_order" in rejected["detail"]


def test_the_content_beats_the_configured_date_order(
    engine: Engine, settings: Settings, samples: Path
) -> None:
    """A day-first file is read day-first even when month-first is configured."""
    service = ImportService(engine, dataclasses.replace(settings, date_order="mdy"))
    service.import_file(samples / "grid-export-eu-semicolon.csv", final_line_ok=True)
    stored = trades(engine)["601743f828ce41728b67d8c9ba4a56ab"]
    assert stored["executed_at"] == datetime(2026, 4, 27, 10, 5, 2)


# -- odd files ---------------------------------------------------------------------------


def test_an_empty_file_waits_for_its_header(service: ImportService, tmp_path: Path) -> None:
    """An empty file, or a header without newline, is not an error: it is waited for."""
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    partial = tmp_path / "partial.csv"
    partial.write_bytes(HEADER.encode())

    assert service.import_file(empty).status == "empty"
    assert service.import_file(partial).status == "pending"


def test_a_vanished_file_is_an_error_result_not_an_exception(
    service: ImportService, tmp_path: Path
) -> None:
    """A path that does not exist gives an `error` result saying the file vanished."""
    result = service.import_file(tmp_path / "gone.csv")
    assert result.status == "error"
    assert "vanished" in result.message


def test_an_unknown_file_is_refused_naming_what_it_looks_like(
    service: ImportService, engine: Engine, tmp_path: Path
) -> None:
    """A CSV that is not an Executions export is refused, the refusal remembered."""
    path = tmp_path / "prices.csv"
    path.write_text("Date,Open,High,Low,Close\r\n2025-01-02,1,2,0.5,1.5\r\n")

    result = service.import_file(path, final_line_ok=True)
    again = service.import_file(path, final_line_ok=True)

    assert result.status == again.status == "refused"
    assert "does not look like a NinjaTrader Executions export" in result.message
    assert "'Date'" in result.message
    assert checkpoint(engine, path)["status"] == "refused"


def test_lf_line_endings_and_a_bom_are_read_like_crlf(
    service: ImportService, engine: Engine, tmp_path: Path
) -> None:
    """LF-only files and a UTF-8 BOM give the same trades as the CRLF grid export."""
    path = tmp_path / "lf.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + "\n" + row("LF1") + "\n").encode())
    result = service.import_file(path, final_line_ok=True)
    assert counts(result) == (1, 0, 0, 0)
    assert trades(engine)["LF1"]["source_line"] == 2


def test_a_file_name_that_is_not_utf8_is_imported(
    service: ImportService, engine: Engine, tmp_path: Path
) -> None:
    """A file whose name is not valid UTF-8 is imported under an escaped path key."""
    path = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9.csv"))
    write_csv(path, [row("NAME1")])
    result = service.import_file(path, final_line_ok=True)
    assert counts(result) == (1, 0, 0, 0)
    assert trades(engine)["NAME1"]["source_file"].endswith("caf\\xe9.csv")


def test_values_with_tabs_backslashes_and_quotes_are_stored_exactly(
    service: ImportService, engine: Engine, tmp_path: Path
) -> None:
    """Quoted values holding a tab, a backslash or a comma are stored as written, and a renamed
    copy of the file is all duplicates (the batch's COPY text escapes them)."""
    lines = [
        row("E1", name='"Stop\\1"'),
        row("E2", name='"a\tb"', connection='"Rithmic, NT"'),
        row("E3", order_id="\\N"),
    ]
    path = write_csv(tmp_path / "escapes.csv", lines)
    copy = tmp_path / "escapes-copy.csv"
    shutil.copyfile(path, copy)

    first = service.import_file(path, final_line_ok=True)
    again = service.import_file(copy, final_line_ok=True)

    assert counts(first) == (3, 0, 0, 0)
    assert counts(again) == (0, 3, 0, 0)
    stored = trades(engine)
    assert stored["E1"]["order_name"] == "Stop\\1"
    assert (stored["E2"]["order_name"], stored["E2"]["connection"]) == ("a\tb", "Rithmic, NT")
    assert stored["E3"]["order_id"] == "\\N"


def test_equal_prices_written_differently_are_duplicates_not_conflicts(
    service: ImportService, engine: Engine, tmp_path: Path
) -> None:
    """A price that differs only in its trailing zeros is the same price: a duplicate."""
    service.import_file(
        write_csv(tmp_path / "a.csv", [row("P1", price="100.5")]), final_line_ok=True
    )

    result = service.import_file(
        write_csv(tmp_path / "b.csv", [row("P1", price="100.50")]), final_line_ok=True
    )

    assert counts(result) == (0, 1, 0, 0)
    assert rejections(engine) == []


def test_a_trade_without_its_ledger_row_gets_one(
    service: ImportService, engine: Engine, tmp_path: Path
) -> None:
    """A trade written by hand without a ledger row keeps its row; the import adds the ID to
    the ledger and imports the rest of the batch."""
    path = write_csv(tmp_path / "manual.csv", [row("M1"), row("M2")])
    service.import_file(path, final_line_ok=True)
    with engine.begin() as conn:
        conn.execute(LEDGER.delete().where(LEDGER.c.execution_id == "M1"))
    copy = tmp_path / "more.csv"
    write_csv(copy, [row("M1"), row("M3")])

    service.import_file(copy, final_line_ok=True)

    assert ledger_ids(engine) == {"M1", "M2", "M3"}
    assert set(trades(engine)) == {"M1", "M2", "M3"}


N_REPAIR = 25_000  # about 2 MB: more than one reader block, so a stop can cut it


def test_an_interrupted_replace_is_finished_as_a_replace_by_the_next_read(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """``--reread --replace`` cut short after its first batch leaves the checkpoint
    ``repair_pending`` (status shows it, verify fails on it); the next plain read finishes
    the replace: every row then holds the repaired value, none is left as a conflict."""
    ids = [f"R{i:05d}" for i in range(N_REPAIR)]
    path = write_csv(tmp_path / "r.csv", [row(i, price="100") for i in ids])
    small = dataclasses.replace(settings, batch_size=10)
    assert ImportService(engine, small).import_file(path, final_line_ok=True).inserted == N_REPAIR
    write_csv(path, [row(i, price="200") for i in ids])  # the repaired export
    cut = ImportService(engine, small).import_file(
        path, reread=True, replace=True, final_line_ok=True, should_stop=lambda: True
    )
    assert cut.status == "interrupted"
    assert 0 < cut.replaced < N_REPAIR
    assert checkpoint(engine, path)["status"] == "repair_pending"
    again = ImportService(engine, small).import_file(path, final_line_ok=True)
    assert (again.replaced, again.conflicts) == (N_REPAIR - cut.replaced, 0), again
    assert checkpoint(engine, path)["status"] == "ok"
    assert {t["price"] for t in trades(engine).values()} == {Decimal("200")}
