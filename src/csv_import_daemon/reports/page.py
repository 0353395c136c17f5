"""The journal page as one self-contained HTML file: Jinja2 with autoescape, SVG charts
drawn server-side, the round-trip table's rows as gzip'd JSON the page's script unpacks.

Nothing is fetched when the page is viewed: its one script and one style sheet are inline,
allowed by their SHA-256 in a Content-Security-Policy that forbids everything else
(``default-src 'none'``), so neither a remote load nor a script from data can run. Values
from files reach the page only through autoescape (HTML) or JSON read as text by the
script, which writes them with ``textContent``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from importlib import resources
from typing import Any

import jinja2

from csv_import_daemon.config.trading_day import Rollover
from csv_import_daemon.reports import journal_charts as charts
from csv_import_daemon.reports.journal_data import FillDetail, JournalData, PageFilter
from csv_import_daemon.reports.journal_stats import Views, WallClock, booked_days, build_views
from csv_import_daemon.trips.queries import decimal_text

_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class PageOptions:
    """How the page is made: its filter (shown), display zone, trading day, reloads."""

    rollover: Rollover
    zone: zoneinfo.ZoneInfo
    flt: PageFilter = field(default_factory=PageFilter)
    refresh_seconds: int | None = None  # a meta refresh for a page the daemon rewrites
    now: datetime | None = None


def money(value: Decimal | None) -> str:
    """Exact amount with thousands separators; cents shown even when zero."""
    if value is None:
        return "n/a"
    if value.as_tuple().exponent >= -2:  # type: ignore[operator]
        value = value.quantize(_CENT)
    text = format(value, ",f")
    return text.replace("-", "\u2212", 1) if value < 0 else text


def average(value: Decimal | None) -> str:
    """An average amount (a quotient), to the cent for reading."""
    return "n/a" if value is None else money(value.quantize(_CENT, rounding=ROUND_HALF_EVEN))


def ratio(value: Decimal | None, places: str = "0.01") -> str:
    """A ratio (not money) rounded for reading; n/a when undefined."""
    if value is None:
        return "n/a"
    return str(value.quantize(Decimal(places), rounding=ROUND_HALF_EVEN))


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("csv_import_daemon.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(money=money, ratio=ratio, average=average, exact=decimal_text)
    return env


@cache
def _asset(name: str) -> str:
    return (resources.files("csv_import_daemon.reports") / "templates" / name).read_text("utf-8")


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def content_security_policy(script: str, style: str) -> str:
    """Only the page's own inline script and style; no fetch, frame, form, font or image
    load (``data:`` images only)."""
    return (
        f"default-src 'none'; script-src {_sha256(script)}; style-src {_sha256(style)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )


class _Index(dict[str | None, int | None]):
    """Text -> its index in the names list, numbered as first seen; None stays None."""

    def __init__(self) -> None:
        super().__init__({None: None})

    def __missing__(self, key: str | None) -> int:
        self[key] = index = len(self) - 1
        return index


class _Texts(dict[Decimal | None, str | None]):
    """Decimal -> canonical text, each distinct value worked out once (prices repeat)."""

    def __init__(self) -> None:
        super().__init__({None: None})

    def __missing__(self, key: Decimal) -> str:
        self[key] = text = decimal_text(key)
        return text


def trip_rows(data: JournalData, booked: dict[int, str], zone: zoneinfo.ZoneInfo) -> dict[str, Any]:
    """The table's rows, compact: repeated text (accounts, instruments, actions, order
    names) as indexes into ``names``; money as exact decimal text; times as wall-clock
    seconds in the display zone (``WallClock.seconds``), a round trip's close and its fills
    as seconds after its open."""
    names, texts, seconds, fills = _Index(), _Texts(), WallClock(zone).seconds, data.fills
    rows = []
    for t in data.trips:
        opened = seconds(t["opened_at"])
        parts = []
        for e in t["executions"]:
            d: FillDetail | None = fills.get(e["execution_id"])
            if d is None:  # the trade was deleted by hand since the round trip was built
                parts.append([None, None, e["quantity"], None, None])
            else:
                at, qty = seconds(d.executed_at) - opened, e["quantity"]
                parts.append([at, names[d.action], qty, texts[d.price], names[d.order_name]])
        closed = t["closed_at"]
        rows.append(
            [
                booked.get(id(t)),
                opened,
                None if closed is None else seconds(closed) - opened,
                names[t["account"]],
                names[t["instrument"]],
                t["direction"],
                t["quantity"],
                t["open_quantity"],
                texts[t["entry_price"]],
                texts[t["exit_price"]],
                texts[t["points"]],
                texts[t["pnl"]],
                texts[t["commission"]],
                texts[t["net_pnl"]],
                t["currency"],
                parts,
            ]
        )
    listed = sorted(((i, n) for n, i in names.items() if i is not None))
    return {"names": [n for _, n in listed], "rows": rows}


def pack(payload: dict[str, Any]) -> str:
    """gzip'd, base64 JSON: a year of round trips with their fills in a fraction of the size."""
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.b64encode(gzip.compress(raw, compresslevel=4, mtime=0)).decode("ascii")


def unpack(text: str) -> dict[str, Any]:
    """What ``pack`` made (tests and tools read the page's rows back with it)."""
    value: dict[str, Any] = json.loads(gzip.decompress(base64.b64decode(text)))
    return value


def _closing(trip: dict[str, Any]) -> tuple[datetime, datetime]:
    return (trip["closed_at"] or trip["opened_at"], trip["opened_at"])


def render_page(data: JournalData, options: PageOptions) -> str:
    """The whole page as text."""
    booked = booked_days(data.trips, options.rollover)
    views: Views = data.views or build_views(
        sorted(data.trips, key=_closing), options.rollover, options.zone, statement=data.daily
    )
    script, style = _asset("journal.js"), _asset("journal.css")
    now = options.now or datetime.now(UTC)
    clock = WallClock(options.zone)
    sections = [
        {
            "view": v,
            "curve": charts.equity_curve(v.equity),
            "bars": {k: charts.bars(g) for k, g in v.breakdowns.items()},
            "months": charts.calendar(v.statement if data.daily is not None else v.daily),
        }
        for v in views.currencies
    ]
    return (
        _environment()
        .get_template("journal.html.j2")
        .render(
            csp=content_security_policy(script, style),
            script=script,
            style=style,
            sections=sections,
            views=views,
            health=data.health,
            flt=options.flt,
            zone=options.zone.key,
            rollover=options.rollover,
            refresh=options.refresh_seconds,
            generated=clock.text(now.astimezone(UTC).replace(tzinfo=None)),
            last_import=clock.text(data.health.last_import) or "never",
            payload=pack(trip_rows(data, booked, options.zone)),
            trips=len(data.trips),
            selected=len(data.trips) if data.selected is None else data.selected,
            stale=data.daily is None,
            width=charts.WIDTH,
            height=charts.HEIGHT,
            bar_height=charts.BAR_HEIGHT,
            weekdays=("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
            date=date,
        )
    )
