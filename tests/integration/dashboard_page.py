"""The dashboard in headless Chromium, as the browser test and `make screenshot` drive it.

Usage: python -m tests.integration.dashboard_page [PNG]   (make screenshot: docs/dashboard.png)

Signs in as the admin from .env, opens "Sales — real time" on a time range and
waits until every chart of the bundle has drawn. Chromium comes from Debian
(`make chromium`); Playwright's own browser download is never used.
"""

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

from pipeline.settings import Settings, get_settings
from pipeline.stack import dashboard

CHROMIUM = "/usr/bin/chromium"
LAST_HOUR = 'DATEADD(DATETIME("now"), -1, hour) : now'
# The dashboard's time-range control, by what a user picks in it.
TIME_RANGES = {"last hour": LAST_HOUR, "today": "Current day", "last 7 days": "Last week"}
# Every chart's state, read in the page: its id, title, viz type, text, the big number and (period-over-period
# charts) the previous period's, the fill of each state of the map by ISO code, whether it drew.
CHARTS_JS = """() => Array.from(document.querySelectorAll('[data-test-chart-id]')).map(holder => ({
    id: holder.getAttribute('data-test-chart-id'),
    viz: holder.getAttribute('data-test-viz-type'),
    title: holder.innerText.split('\\n')[0].trim(),
    text: holder.innerText,
    value: holder.querySelector('.header-line')?.innerText
        ?? holder.querySelector('.pop_kpi > div > div > div')?.firstChild?.textContent ?? null,
    previous: Array.from(holder.querySelectorAll('.pop_kpi span')).find(s => s.textContent === '#')
        ?.parentElement.textContent.slice(1).trim() ?? null,
    fills: Object.fromEntries(Array.from(holder.querySelectorAll('path.region')).map(
        path => [path.__data__?.properties?.ISO, getComputedStyle(path).fill])),
    drawn: !!holder.querySelector('.header-line, .pop_kpi, canvas, svg path, table tbody tr'),
}))"""


@contextmanager
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield chromium
        finally:
            chromium.close()


def new_page(chromium: Browser, settings: Settings) -> Page:
    page = chromium.new_page(viewport={"width": 1600, "height": 1400})
    # Only Superset itself: the table charts' grid asks Google for a web font, and a machine
    # without internet can stall that lookup for longer than a page load may take.
    page.route(lambda url: not url.startswith(settings.superset_url), lambda route: route.abort())
    page.set_default_timeout(60_000)
    return page


def sign_in(page: Page, settings: Settings) -> str:
    """Signs in through the login form; the URL the browser lands on."""
    page.goto(f"{settings.superset_url}/login/")
    page.locator("#username").fill(settings.superset_admin_user)
    page.locator("#password").fill(settings.superset_admin_password.get_secret_value())
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
    return page.url


def charts(page: Page) -> dict[str, dict]:
    return {chart["title"]: chart for chart in page.evaluate(CHARTS_JS)}


def chart_titles(settings: Settings) -> set[str]:
    files = dashboard.bundle_files(settings)
    return {content["slice_name"] for name, content in files.items() if name.startswith("charts/")}


def open_dashboard(page: Page, settings: Settings, time_range: str = LAST_HOUR) -> None:
    """The dashboard with its time-range control set as a user sets it (the URL keeps the choice)."""
    value = time_range.replace("'", "!'")  # rison's quoting
    mask = f"(NATIVE_FILTER-time-range:(extraFormData:(time_range:'{value}'),filterState:(value:'{value}')))"
    page.goto(f"{dashboard.dashboard_url(settings)}?native_filters={mask}", wait_until="domcontentloaded")


def wait_until_drawn(page: Page, expected: set[str], timeout: float = 120) -> dict[str, dict]:
    """Every expected chart drawn, none loading or showing an error; fails with what each shows."""
    deadline = time.monotonic() + timeout
    while True:
        shown = charts(page)
        failed = {title: c["text"] for title, c in shown.items() if "error" in c["text"].lower()}
        assert not failed, f"charts show errors: {failed}"
        ready = {title for title, c in shown.items() if c["drawn"] and "Waiting on" not in c["text"]}
        if ready >= expected:
            return shown
        assert time.monotonic() < deadline, (
            f"not drawn after {timeout:.0f}s at {page.url}: {sorted(expected - ready)}; {shown}"
        )
        time.sleep(1)


def screenshot(settings: Settings, path: Path) -> None:
    with browser() as chromium:
        page = new_page(chromium, settings)
        sign_in(page, settings)
        open_dashboard(page, settings)
        wait_until_drawn(page, chart_titles(settings))
        time.sleep(2)  # the charts' own draw animations
        page.screenshot(path=path, full_page=True)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/dashboard.png")
    screenshot(get_settings(), target)
    print(f"screenshot: {target}")
