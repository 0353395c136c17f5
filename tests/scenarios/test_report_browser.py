"""The journal page as a person sees it: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium) opens the file from disk.

No console error (a blocked inline script or style would be one: the CSP allows them by
hash only), the charts are painted (pixels of the curve's and the bars' colours in a
screenshot of each), the table unpacks, filters and sorts, a row shows its fills. A
screenshot goes to ``$CSV_IMPORT_TEST_ARTIFACTS`` (else the test's folder).

In CI (``CI=true``) a missing browser fails the test; elsewhere it is skipped, saying why.
Deselect with ``-m "not browser"``.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from support.journal_page import HOSTILE_ACCOUNT, journal_files
from support.processes import run_cli

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,2000",
)
CURVE = (0x09, 0x69, 0xDA)  # .chart .eq stroke
GREEN, RED = (0x1A, 0x7F, 0x37), (0xC6, 0x28, 0x28)  # bars


def _missing() -> str | None:
    for path in (CHROMIUM, DRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is not installed (apt-get install chromium chromium-driver)"
    try:
        import PIL  # noqa: F401, PLC0415
        import selenium  # noqa: F401, PLC0415
    except ImportError as exc:
        return f"{exc.name} is not installed (the test extra)"
    return None


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI needs the browser test: {reason}")
        pytest.skip(reason)
    from selenium import webdriver  # noqa: PLC0415
    from selenium.webdriver.chrome.options import Options  # noqa: PLC0415
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    options = Options()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _colour_pixels(png: bytes, colour: tuple[int, int, int]) -> int:
    from PIL import Image  # noqa: PLC0415

    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours: list[Any] = image.getcolors(image.width * image.height) or []
    return sum(n for n, c in colours if _near(c, colour))


def _near(c: tuple[int, int, int], colour: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 24 for a, b in zip(c, colour, strict=True))


def _artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CSV_IMPORT_TEST_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_the_page_in_chromium(browser: Any, tmp_path: Path) -> None:
    """Loads from disk without console errors; charts painted; the table filters and sorts,
    and a clicked row shows its fills; markup in an account name stays text."""
    from selenium.webdriver.common.by import By  # noqa: PLC0415
    from selenium.webdriver.common.keys import Keys  # noqa: PLC0415
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

    driver = browser  # a selenium WebDriver
    files = journal_files(tmp_path)
    db = f"sqlite:///{tmp_path / 'j.sqlite3'}"
    zone = ("--source-timezone", "America/New_York")
    assert run_cli("import", "--database", db, *zone, *map(str, files)).returncode == 0
    page = tmp_path / "journal.html"
    done = run_cli("report", "--database", db, *zone, "--out", str(page))
    assert done.returncode == 0, done.stderr

    driver.get(page.as_uri())  # type: ignore[attr-defined]
    wait = WebDriverWait(driver, 30)
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-table-ready"))
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]  # type: ignore[attr-defined]
    assert errors == []

    find = driver.find_element  # type: ignore[attr-defined]
    equity = find(By.CSS_SELECTOR, "#cur-USD svg.equity")
    assert _colour_pixels(equity.screenshot_as_png, CURVE) > 200
    bars = find(By.CSS_SELECTOR, "#cur-USD [data-breakdown=account] svg")
    painted = bars.screenshot_as_png
    assert _colour_pixels(painted, GREEN) + _colour_pixels(painted, RED) > 1000
    assert len(driver.find_elements(By.CSS_SELECTOR, "td.day[data-net]")) > 0  # type: ignore[attr-defined]

    def rows() -> list[Any]:
        return driver.find_elements(By.CSS_SELECTOR, "#trip-table tbody tr.trip")  # type: ignore[attr-defined,no-any-return]

    everything = len(rows())
    assert everything == 31  # 20 USD + 10 EUR closed, 1 open
    box = find(By.ID, "filter")

    def type_filter(text: str) -> None:
        """As a person would: select what is there, type over it (input events fire)."""
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(text or Keys.BACKSPACE)

    type_filter("fdax")
    wait.until(lambda _d: len(rows()) == 10)
    type_filter("<script>")
    wait.until(lambda _d: len(rows()) == 10)
    assert {r.find_elements(By.TAG_NAME, "td")[3].text for r in rows()} == {HOSTILE_ACCOUNT}  # type: ignore[attr-defined]

    type_filter("open")
    wait.until(lambda _d: len(rows()) == 1)
    type_filter("")
    wait.until(lambda _d: len(rows()) == everything)
    net = find(By.CSS_SELECTOR, "#trip-table th[data-col='13']")
    # Ascending: round trips without a net first (open, or the FDAX ones whose $ commission
    # is not netted with their euro P&L), then the biggest loss first.
    net.click()
    shown = [r.find_elements(By.TAG_NAME, "td")[12].text for r in rows()]  # type: ignore[attr-defined]
    assert shown == sorted(shown, key=bool)  # every empty one before the first number
    nets = [Decimal(t.replace("\u2212", "-")) for t in shown if t]
    assert len(nets) >= 5
    assert nets == sorted(nets)
    rows()[0].click()  # type: ignore[attr-defined]
    fills = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#trip-table tr.fills"))
    assert "@" in fills[0].text

    shot = _artifacts(tmp_path) / "journal-page.png"
    driver.set_window_size(1280, 2400)  # type: ignore[attr-defined]
    driver.save_screenshot(str(shot))  # type: ignore[attr-defined]
    assert shot.stat().st_size > 10_000
    assert driver.get_log("browser") == []  # type: ignore[attr-defined]
