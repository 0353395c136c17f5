"""The journal page read back as a person's numbers: figures per currency, calendar days,
the round-trip table's rows; and a journal of files to make pages from.

The parser is the standard library's: the page is checked as HTML, not as our own text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from csv_import_daemon.reports.page import unpack
from support.trips import DAY1, row, write

HOSTILE_ACCOUNT = "<script>alert(1)</script>"
HOSTILE_INSTRUMENT = "javascript:alert(2)"


@dataclass
class Page:
    """What the page says: ``figures[currency][name]`` is a ``data-value`` (exact) or the
    text shown; ``days[currency][day]`` a calendar cell's net P&L."""

    figures: dict[str, dict[str, str]] = field(default_factory=dict)
    days: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    months: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    health: dict[str, str] = field(default_factory=dict)
    scripts: list[dict[str, str | None]] = field(default_factory=list)
    script_text: list[str] = field(default_factory=list)
    csp: str | None = None
    refresh: str | None = None
    urls: list[str] = field(default_factory=list)  # every href/src/action value

    def rows(self) -> dict[str, Any]:
        """The round-trip table's rows, as the page's script unpacks them."""
        for attrs, text in zip(self.scripts, self.script_text, strict=True):
            if attrs.get("id") == "trip-data":
                return unpack(text.strip())
        raise AssertionError("no trip-data in the page")


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self.currency: str | None = None
        self.figure: tuple[str, str | None] | None = None
        self.text: list[str] = []
        self.in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("href", "src", "action", "xlink:href"):
            if a.get(key) is not None:
                self.page.urls.append(str(a[key]))
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy":
            self.page.csp = a.get("content")
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "refresh":
            self.page.refresh = a.get("content")
        if tag == "section":
            self.currency = a.get("data-currency")
        if tag == "script":
            self.page.scripts.append(a)
            self.in_script, self.text = True, []
        if "data-figure" in a:
            self.figure, self.text = (str(a["data-figure"]), a.get("data-value")), []
        if "data-day" in a and self.currency:
            net = Decimal(str(a["data-net"]))
            self.page.days.setdefault(self.currency, {})[str(a["data-day"])] = net
        if "data-month-total" in a and self.currency:
            months = self.page.months.setdefault(self.currency, {})
            months[str(len(months))] = Decimal(str(a["data-month-total"]))

    def handle_data(self, data: str) -> None:
        if self.figure is not None or self.in_script:
            self.text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self.in_script:
            self.page.script_text.append("".join(self.text))
            self.in_script = False
        if tag == "dd" and self.figure is not None:
            name, value = self.figure
            shown = value if value is not None else " ".join("".join(self.text).split())
            target = self.page.figures.setdefault(self.currency, {}) if self.currency else None
            (target if target is not None else self.page.health)[name] = shown
            self.figure = None


def read_page(html: str) -> Page:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.page


def journal_files(folder: Path) -> list[Path]:
    """Two weeks of fills: wins, losses and a scratch, two accounts (one named like markup),
    a EUR contract, one open position and an instrument named like a script URL."""
    rows: list[str] = []
    n = 0

    def fill(action: str, qty: int, price: str, when: datetime, **kw: str) -> None:
        nonlocal n
        n += 1
        rows.append(row(f"e{n:04d}", action, qty, price, when, commission="$0.52", **kw))

    for day in range(10):
        start = DAY1 + timedelta(days=day)
        for k, account in enumerate(("Sim101", HOSTILE_ACCOUNT)):
            t = start + timedelta(hours=k)
            move = (day * 7 + k * 3) % 9 - 4  # wins, losses and an even one
            fill("Buy", 2, "21000.00", t, account=account)
            fill("Sell", 1, f"{21000 + move}.25", t + timedelta(minutes=5), account=account)
            fill("Sell", 1, f"{21000 + move}.00", t + timedelta(minutes=9), account=account)
        fill("Sell", 1, "18000.5", start + timedelta(hours=3), instrument="FDAX MAR25")
        fill("Buy", 1, f"{18000 - day}.0", start + timedelta(hours=4), instrument="FDAX MAR25")
    fill("Buy", 3, "1.5", DAY1 + timedelta(days=11), instrument=HOSTILE_INSTRUMENT)
    return [write(folder / "NinjaTrader_Executions_20250128.csv", rows)]
