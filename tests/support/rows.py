"""NinjaTrader 8 execution rows and CSV files with unique IDs.

Two sources of rows, one format:

- ``make_row`` / ``make_rows``: numbered, simple rows (one instrument and account, a time
  one second per index) that tests build files from and cut or edit by column;
- ``ExecutionGenerator``: a seeded, realistic stream (several accounts and instruments,
  orders of several fills, positions tracked) for the benchmarks and size tests.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

# The en-US grid export's header: 14 named columns and a trailing comma.
HEADER = (
    "Instrument,Action,Quantity,Price,Time,ID,E/X,Position,Order ID,Name,Commission,"
    "Rate,Account,Connection,"
)
BASE_TIME = datetime(2025, 10, 31, 9, 30, 0)


def clock(dt: datetime) -> str:
    """``dt`` as the en-US export writes it: ``10/31/2025 9:30:00 AM``."""
    hour = dt.hour % 12 or 12
    return (
        f"{dt.month}/{dt.day}/{dt.year} {hour}:{dt.minute:02}:{dt.second:02} "
        f"{'AM' if dt.hour < 12 else 'PM'}"
    )


def execution_id(line: str) -> str:
    """The ID column of a line in the ``HEADER`` layout."""
    return line.split(",")[5]


# -- one line, any layout ------------------------------------------------------------------

# Header words -> the keyword that sets the column in ``grid_line``.
_KEYWORDS = {
    "Instrument": "instrument",
    "Action": "action",
    "Quantity": "quantity",
    "Price": "price",
    "Time": "time",
    "ID": "execution_id",
    "E/X": "entry_exit",
    "Position": "position",
    "Order ID": "order_id",
    "Name": "name",
    "Commission": "commission",
    "Rate": "rate",
    "Account": "account",
    "Connection": "connection",
}
GRID_DEFAULTS: dict[str, object] = {
    "instrument": "MNQ MAR25",
    "action": "Buy",
    "quantity": 1,
    "price": "21539.50",
    "time": "1/28/2025 10:59:52 AM",
    "execution_id": "",
    "entry_exit": "Entry",
    "position": "-",
    "order_id": "",
    "name": "Entry",
    "commission": "$0.00",
    "rate": 1,
    "account": "Sim101",
    "connection": "Sim",
}


def grid_line(*, header: str = HEADER, sep: str | None = None, **columns: Any) -> str:
    """One line of a grid export in ``header``'s layout: each column by keyword
    (``execution_id=``, ``price=``, ``time=`` ..., see ``GRID_DEFAULTS``), the others their
    default; a header's unnamed columns (a trailing comma) stay empty. Values are written
    as given, never quoted, so a test can write a broken line on purpose. ``sep``: the
    header's own separator unless given."""
    unknown = columns.keys() - GRID_DEFAULTS.keys()
    assert not unknown, f"no such column: {sorted(unknown)}"
    delimiter = ";" if ";" in header else ","
    values = {**GRID_DEFAULTS, **columns}
    fields = [
        str(values[_KEYWORDS[name]]) if name in _KEYWORDS else ""
        for name in header.split(delimiter)
    ]
    return (sep or delimiter).join(fields)


def write_lines(
    path: Path, lines: Iterable[str], *, header: str = HEADER, newline: str = "\n"
) -> Path:
    """A file of ``header`` and ``lines``, each line ended by ``newline`` (bytes, UTF-8)."""
    path.write_bytes("".join(f"{line}{newline}" for line in (header, *lines)).encode("utf-8"))
    return path


# -- simple numbered rows ------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    execution_id: str
    line: str  # without newline


def make_row(index: int, execution_id: str | None = None, **columns: Any) -> Row:
    """Execution row ``index``: a fill ``index`` seconds after ``BASE_TIME``, buys and sells
    in turn; IDs are 32 hex digits like NinjaTrader's. ``columns`` override by keyword, as
    in ``grid_line``."""
    eid = execution_id or uuid.uuid4().hex
    columns = {
        "instrument": "MNQ 12-25",
        "action": "Buy" if index % 2 == 0 else "Sell",
        "price": f"{21000 + (index % 400) * 0.25:.2f}",
        "time": clock(BASE_TIME + timedelta(seconds=index)),
        "execution_id": eid,
        "position": "1 L",
        "order_id": uuid.uuid4().hex,
        "commission": "$0.52",
        "account": "SIM101",
        "connection": "Simulated Data Feed",
        **columns,
    }
    return Row(eid, grid_line(**columns))


def make_rows(count: int, start: int = 0) -> list[Row]:
    return [make_row(start + i) for i in range(count)]


def wide_rows(count: int) -> list[Row]:
    """Rows with a 200-character order name: fewer rows fill the reader's 1 MiB blocks."""
    return [
        Row(r.execution_id, r.line.replace(",Entry,$0.52,", f",{'n' * 200},$0.52,"))
        for r in make_rows(count)
    ]


def ids_of(rows: Sequence[Row]) -> set[str]:
    return {r.execution_id for r in rows}


def csv_text(rows: Iterable[Row], header: bool = True) -> str:
    lines = ([HEADER] if header else []) + [r.line for r in rows]
    return "".join(line + "\n" for line in lines)


def write_csv(path: Path, rows: Iterable[Row]) -> Path:
    """Write header and rows in one go (a new file, or replacing the content in place)."""
    path.write_text(csv_text(rows), encoding="utf-8")
    return path


def append(path: Path, text_: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(text_)


# -- a realistic stream --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Instrument:
    root: str
    start_cents: int  # starting price in hundredths
    tick_cents: int  # tick size in hundredths
    commission_cents: int  # per contract and fill
    max_qty: int


_INSTRUMENTS = (
    _Instrument("MNQ", 2_150_000, 25, 52, 10),
    _Instrument("MES", 605_000, 25, 62, 10),
    _Instrument("NQ", 2_150_000, 25, 214, 3),
    _Instrument("ES", 605_000, 25, 214, 3),
    _Instrument("M2K", 228_000, 10, 52, 10),
    _Instrument("CL", 7_235, 1, 214, 2),
    _Instrument("GC", 265_010, 10, 214, 2),
)
_ACCOUNTS = (
    ("Sim101", "ATF NinjaTrader"),
    ("APEX1279810000057", "Apex Trader Funding "),
    ("APEX1279810000058", "Apex Trader Funding "),
    ("TPT48213-07", "Rithmic for NinjaTrader Brokerage"),
    ("MFFUEVSTP123456", "Tradovate"),
    ("Playback101", "Playback"),
)
_MONTH_CODES = ("MAR", "JUN", "SEP", "DEC")
_ENTRY_NAMES = ("Entry", "Entry", "Signal1", "Breakout")
_EXIT_NAMES = ("Exit", "Stop1", "Target1", "Target2", "Close", "P||4524")
_SESSION_START = 8 * 3600  # 8:00 AM: well away from the DST switch at 2 AM
_SESSION_END = 17 * 3600


class ExecutionGenerator:
    """A seeded stream of realistic execution lines, in time order, continuable.

    Orders of 1-3 fills share an order ID, a time and a name; positions per account and
    instrument are tracked so E/X and Position read like a real account's history.
    """

    def __init__(self, seed: int, first_day: date = date(2024, 1, 16)) -> None:
        self.rng = random.Random(seed)
        self.day = first_day
        self.second = _SESSION_START
        self.positions: dict[tuple[int, int], int] = {}
        self.prices = [inst.start_cents for inst in _INSTRUMENTS]
        self._day_text = ""
        self._names: list[str] = []
        self._set_day(first_day)

    def start_day(self, day: date) -> None:
        """Go on from the session's start on ``day`` (the next weekday if it is a weekend)."""
        self.second = _SESSION_START
        self._set_day(day)

    def _set_day(self, day: date) -> None:
        while day.weekday() >= 5:
            day += timedelta(days=1)
        self.day = day
        self._day_text = f"{day.month}/{day.day}/{day.year}"
        # The front contract: the next quarterly month, rolled in the expiry month.
        quarter = min((day.month - 1) // 3 + (1 if day.month % 3 == 0 and day.day > 10 else 0), 4)
        year = day.year + (1 if quarter == 4 else 0)
        code = _MONTH_CODES[quarter % 4]
        self._names = [f"{inst.root} {code}{year % 100:02d}" for inst in _INSTRUMENTS]

    def _time_text(self) -> str:
        # The day's text is cached: this runs once per order of a million-row file.
        h, rest = divmod(self.second, 3600)
        m, s = divmod(rest, 60)
        suffix = "AM" if h < 12 else "PM"
        h12 = h % 12 or 12
        return f"{self._day_text} {h12}:{m:02d}:{s:02d} {suffix}"

    def lines(self, count: int) -> Iterator[str]:
        """``count`` data lines, without line ends."""
        rng = self.rng
        produced = 0
        while produced < count:
            self.second += rng.randint(0, 48)
            if self.second >= _SESSION_END:
                self.second = _SESSION_START + rng.randint(0, 600)
                self._set_day(self.day + timedelta(days=1))
            a = rng.randrange(len(_ACCOUNTS))
            i = rng.randrange(len(_INSTRUMENTS))
            inst = _INSTRUMENTS[i]
            account, connection = _ACCOUNTS[a]
            pos = self.positions.get((a, i), 0)
            if pos == 0 or (abs(pos) < inst.max_qty and rng.random() < 0.3):
                side = (1 if rng.random() < 0.5 else -1) if pos == 0 else (1 if pos > 0 else -1)
                qty = rng.randint(1, max(1, inst.max_qty - abs(pos)))
                entry, name = True, rng.choice(_ENTRY_NAMES)
            else:
                side = -1 if pos > 0 else 1
                qty = rng.randint(1, abs(pos))
                entry, name = False, rng.choice(_EXIT_NAMES)
            self.prices[i] = max(
                inst.tick_cents * 40, self.prices[i] + inst.tick_cents * rng.randint(-8, 8)
            )
            order_id = f"{rng.getrandbits(128):032x}"
            when = self._time_text()
            fills = min(qty, rng.choice((1, 1, 1, 2, 3)))
            left = qty
            for k in range(fills):
                fill_qty = left if k == fills - 1 else rng.randint(1, left - (fills - k - 1))
                left -= fill_qty
                pos += side * fill_qty
                cents = self.prices[i] + inst.tick_cents * rng.randint(0, 1) * side
                commission = inst.commission_cents * fill_qty
                position = "-" if pos == 0 else f"{abs(pos)} {'L' if pos > 0 else 'S'}"
                yield (
                    f"{self._names[i]},{'Buy' if side > 0 else 'Sell'},{fill_qty},"
                    f"{cents // 100}.{cents % 100:02d},{when},{rng.getrandbits(128):032x},"
                    f"{'Entry' if entry else 'Exit'},{position},{order_id},{name},"
                    f"${commission // 100}.{commission % 100:02d},1,{account},{connection},"
                )
                produced += 1
                if produced >= count:
                    break
            self.positions[(a, i)] = pos


def write_export(path: Path, gen: ExecutionGenerator, rows: int) -> int:
    """Write a header and ``rows`` generated executions with CRLF line ends, as the grid
    export does; return the file size."""
    with open(path, "wb") as f:
        f.write(HEADER.encode() + b"\r\n")
        chunk: list[str] = []
        for line in gen.lines(rows):
            chunk.append(line)
            if len(chunk) >= 20_000:
                f.write(("\r\n".join(chunk) + "\r\n").encode())
                chunk = []
        if chunk:
            f.write(("\r\n".join(chunk) + "\r\n").encode())
    return path.stat().st_size


def append_line(f: BinaryIO, line: str) -> None:
    """Append one CRLF line and make it durable, as a live export does line by line."""
    f.write(line.encode() + b"\r\n")
    f.flush()
    os.fsync(f.fileno())
