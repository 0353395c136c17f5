"""Model-based test of exports without IDs and their re-saves.

Hypothesis draws histories of one export without an ID column that grows (fills appended,
some of one meaning within one minute) and is written to the folder in several ways: the
original form, a spreadsheet's re-save (24-hour times without seconds, trailing zeros,
money without its sign, Account moved, Position hidden, CRLF), saved over a file in place or
renamed over it, or copied under a new name; with restarts of the import service. Every
file holds the export's fills, in order, up to some point. At each quiet point the journal
must hold exactly the stand-ins of the fills any file held at a quiet point (those written
and overwritten before one may or may not be there), no rejection and no conflict.

In-process through ``ImportService``, on SQLite and PostgreSQL. ``CSV_IMPORT_TEST_SEED``
fixes the seed; ``--release`` runs more examples.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test
from sqlalchemy import Engine, text

from csv_import_daemon.config.settings import Settings
from csv_import_daemon.importing.service import ImportService
from csv_import_daemon.parsing.execution import Execution
from csv_import_daemon.parsing.row_parser import RowParser, sniff_layout, split_lines
from support.rows import clock

RELEASE = "--release" in sys.argv
TABLES = (
    "round_trip_state",
    "round_trip_bookings",
    "round_trip_fills",
    "round_trips",
    "trade_corrections",
    "import_rejections",
    "imported_executions",
    "trades",
    "import_files",
)
HEADER = "Account,Instrument,Action,Quantity,Price,Time,E/X,Position,Name,Commission"
RE_SAVED_HEADER = "Instrument,Action,Quantity,Price,Time,E/X,Name,Commission,Account"
BASE = datetime(2025, 10, 30, 9, 30, 0)
NAMES = ("grid.csv", "grid (excel).csv", "copy 2.csv")

Fill = tuple[str, str, str, int, str, datetime]  # account, instrument, action, qty, price, time


def original(fills: list[Fill]) -> str:
    lines = [
        f"{a},{i},{act},{q},{p},{clock(t)},Entry,1 L,Entry,$0.52" for a, i, act, q, p, t in fills
    ]
    return "\n".join([HEADER, *lines]) + "\n"


def re_saved(fills: list[Fill]) -> str:
    lines = [
        f"{i},{act},{q},{float(p):.2f},{t.month}/{t.day}/{t.year} {t.hour}:{t.minute:02},"
        f"Entry,Entry,0.52,{a}"
        for a, i, act, q, p, t in fills
    ]
    return "\r\n".join([RE_SAVED_HEADER, *lines]) + "\r\n"


def stand_ins(fills: list[Fill]) -> list[str]:
    """The stand-ins of the export's fills, in order, as today's parser gives them."""
    header, *lines = original(fills).splitlines()
    layout = sniff_layout(header)
    parser = RowParser(layout, "mdy", ZoneInfo("UTC"))
    rows = zip(split_lines(lines, layout), lines, strict=True)
    parsed = [parser.parse(f, n, raw) for n, (f, raw) in enumerate(rows, start=2)]
    return [p.execution_id for p in parsed if isinstance(p, Execution)]


class ReSaves(RuleBasedStateMachine):
    engine: Engine
    cfg: Settings

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="model-re-saves-"))
        with self.engine.begin() as conn:
            for table in TABLES:
                conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - constant names
        self.service = ImportService(self.engine, self.cfg)
        self.fills: list[Fill] = []
        self.files: dict[str, int] = {}  # name -> how many of the fills it holds
        self.must = 0  # fills some file held at a quiet point
        self.at = BASE

    @initialize()
    def start(self) -> None:
        self.check()

    @rule(count=st.integers(1, 8), same_minute=st.booleans(), data=st.data())
    def fills_happen(self, count: int, same_minute: bool, data: st.DataObject) -> None:
        for _ in range(count):
            if same_minute and self.fills and self.at.second < 55:
                self.at += timedelta(seconds=data.draw(st.integers(0, 3)))
                self.fills.append((*self.fills[-1][:5], self.at))
                continue
            self.at += timedelta(seconds=data.draw(st.integers(60, 400)))
            self.fills.append(
                (
                    data.draw(st.sampled_from(("Sim101", "APEX-3"))),
                    "MNQ 12-25",
                    data.draw(st.sampled_from(("Buy", "Sell"))),
                    data.draw(st.integers(1, 3)),
                    data.draw(st.sampled_from(("21000", "21000.25", "21000.5"))),
                    self.at,
                )
            )

    @rule(
        name=st.sampled_from(NAMES),
        spreadsheet=st.booleans(),
        by_rename=st.booleans(),
        data=st.data(),
    )
    def write(self, name: str, spreadsheet: bool, by_rename: bool, data: st.DataObject) -> None:
        """A file holds the export up to now (or, saved again, no less than it held)."""
        low = self.files.get(name, 0)
        count = data.draw(st.integers(low, len(self.fills)))
        text_ = (re_saved if spreadsheet else original)(self.fills[:count])
        target = self.root / name
        if by_rename:
            part = self.root / f".{name}.part"
            part.write_bytes(text_.encode())
            os.rename(part, target)
        else:
            with open(target, "ab") as f:  # in place: the same inode
                f.truncate(0)
                f.write(text_.encode())
        self.files[name] = count

    @rule()
    def restart(self) -> None:
        self.service = ImportService(self.engine, self.cfg)

    @rule()
    def settle(self) -> None:
        for name in sorted(self.files):
            result = self.service.import_file(self.root / name, final_line_ok=True)
            assert result.status not in ("error", "refused"), result.as_dict()
        self.must = max([self.must, *self.files.values()])
        self.check()

    def check(self) -> None:
        with self.engine.connect() as conn:
            ids = set(conn.execute(text("SELECT execution_id FROM trades")).scalars())
            ledger = conn.scalar(text("SELECT count(*) FROM imported_executions"))
            rejected = conn.execute(text("SELECT reason, detail FROM import_rejections")).all()
        expected = stand_ins(self.fills)
        assert set(expected[: self.must]) <= ids <= set(expected)
        assert ledger == len(ids)
        assert rejected == []

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.mark.timeout(3600 if RELEASE else 300)
def test_re_saved_exports_without_ids_equal_the_model(engine: Engine, settings: Settings) -> None:
    """Random histories of an export without IDs and its re-saves: each fill once."""
    machine = type("Machine", (ReSaves,), {"engine": engine, "cfg": settings})
    value = os.environ.get("CSV_IMPORT_TEST_SEED")
    if value:
        machine = seed(int(value))(machine)
    run_state_machine_as_test(
        machine,
        settings=settings_for(500 if RELEASE else 60, 30 if RELEASE else 20),
    )


def settings_for(examples: int, steps: int) -> settings:
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
