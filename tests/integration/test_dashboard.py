"""The Superset dashboard on the real stack, in headless Chromium from Debian.

The browser logs in as the admin from .env, opens "Sales — real time", waits
until every chart has drawn, and checks the big numbers against MySQL. Then
it posts orders through the API and watches the revenue grow on the open page,
with no reload: the dashboard's own 10 s refresh has to bring it.
The last screenshot is saved in $STATE_DIR/test-artifacts/dashboard.png.
"""

import json
import os
import subprocess
import time
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import pymysql
import pytest
from playwright.sync_api import Page, sync_playwright

from pipeline.contract import Order
from pipeline.stack import dashboard

CHROMIUM = "/usr/bin/chromium"
SUPERSET_DIR = Path(__file__).parents[2] / "superset"
# Run in Superset's virtualenv with this project's superset_config.py: eight
# threads evaluate the dashboard's time range at once, each parse slowed so
# any overlap shows; prints how many were inside the parser at most.
PARSE_OVERLAP = """
import threading, time
from superset import config
from superset.utils import date_parser
config.FLASK_APP_MUTATOR(None)
build_grammar, inside, most = date_parser.datetime_parser, [0], [0]
def slow_build_grammar():
    inside[0] += 1
    most[0] = max(most[0], inside[0])
    time.sleep(0.05)
    inside[0] -= 1
    return build_grammar()
date_parser.datetime_parser = slow_build_grammar
threads = [threading.Thread(target=date_parser.datetime_eval, args=(%r,)) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
print(most[0])
"""
EVENT_LOG = "**/superset/log/**"
POSTED_ORDERS_COUNTED = (
    "SELECT COALESCE(SUM(orders), 0) FROM product_sales_by_minute WHERE product_id = 'dashboard-test'"
)
BIG_NUMBERS = ("Revenue", "Orders", "Average order value")
# The dashboard's defaults: the last hour, in USD.
LAST_HOUR_USD = """
SELECT COALESCE(SUM(revenue), 0), COALESCE(SUM(orders), 0)
FROM sales_by_minute
WHERE currency = 'USD' AND window_start >= UTC_TIMESTAMP() - INTERVAL 1 HOUR AND window_start < UTC_TIMESTAMP()"""
# Every chart's state, read in the page: title, viz type, text, big-number value, whether it drew.
CHARTS_JS = """() => Array.from(document.querySelectorAll('[data-test-chart-id]')).map(holder => ({
    viz: holder.getAttribute('data-test-viz-type'),
    title: holder.innerText.split('\\n')[0].trim(),
    text: holder.innerText,
    value: holder.querySelector('.header-line')?.innerText ?? null,
    drawn: !!holder.querySelector('.header-line, canvas, svg path, table tbody tr'),
}))"""


@pytest.fixture(scope="module")
def superset(settings):
    with dashboard.SupersetClient(settings) as client:
        yield client


@pytest.fixture(scope="module")
def page(settings):
    with sync_playwright() as playwright:
        # Debian's Chromium (`make test` installs it); Playwright's own browser download is not used.
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(viewport={"width": 1600, "height": 1400})
        # Only Superset itself: the table charts' grid asks Google for a web
        # font, and a machine without internet can stall that lookup for
        # longer than a page load may take.
        page.route(lambda url: not url.startswith(settings.superset_url), lambda route: route.abort())
        page.set_default_timeout(60_000)
        # The login page posts its event log as the form submits. That anonymous
        # request answers with a session cookie too, and when it lands after the
        # login's answer it replaces the signed-in session: the browser is sent
        # back to /login/. Without the log there is no race.
        page.route(EVENT_LOG, lambda route: route.abort())
        page.goto(f"{settings.superset_url}/login/")
        page.locator("#username").fill(settings.superset_admin_user)
        page.locator("#password").fill(settings.superset_admin_password.get_secret_value())
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/superset/welcome/**")
        page.unroute(EVENT_LOG)
        yield page
        browser.close()


def charts(page: Page) -> dict[str, dict]:
    return {chart["title"]: chart for chart in page.evaluate(CHARTS_JS)}


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


def number(text: str) -> Decimal:
    return Decimal(text.replace(",", "").replace("\u2212", "-"))  # d3-format writes a minus sign


def big_numbers(page: Page, titles: tuple[str, ...] = BIG_NUMBERS, timeout: float = 30) -> tuple[Decimal, ...]:
    """The numbers the big-number charts show (revenue, orders and average order value by default);
    a refresh briefly blanks them, so it waits."""
    deadline = time.monotonic() + timeout
    while None in (values := [charts(page)[title]["value"] for title in titles]):
        assert time.monotonic() < deadline, f"big numbers not shown: {dict(zip(titles, values, strict=False))}"
        time.sleep(0.2)
    return tuple(number(value) for value in values)


def in_mysql(mysql) -> tuple[Decimal, Decimal]:
    with mysql.cursor() as cursor:
        cursor.execute(LAST_HOUR_USD)
        revenue, orders = cursor.fetchone()
    return Decimal(revenue), Decimal(orders)


def posted_orders_counted(mysql) -> int:
    """Orders of post_orders' product that MySQL counts."""
    with mysql.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(SUM(orders), 0) FROM product_sales_by_minute WHERE product_id = 'dashboard-test'"
        )
        (counted,) = cursor.fetchone()
    return int(counted)


def post_orders(api, count: int) -> list[Order]:
    orders = [
        Order(
            order_id=uuid4(),
            customer_id=1 + i,
            source="Dine In",
            product_id="dashboard-test",
            quantity=1 + i % 3,
            unit_price=Decimal("12.34"),
            currency="USD",
            payment_method="visa",
        )
        for i in range(count)
    ]
    response = api.post(
        "/orders/batch",
        content=json.dumps([o.model_dump(mode="json") for o in orders]),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 202, response.text
    return orders


def bundle_titles(settings) -> set[str]:
    files = dashboard.bundle_files(settings)
    return {content["slice_name"] for name, content in files.items() if name.startswith("charts/")}


def test_importing_twice_keeps_one_dashboard_and_a_changed_bundle_updates_it(settings, superset):
    files = dashboard.bundle_files(settings)
    dashboard.import_bundle(settings, files)
    dashboard.import_bundle(settings, files)
    query = json.dumps({"filters": [{"col": "slug", "opr": "eq", "value": dashboard.SLUG}]})
    assert superset.get("/api/v1/dashboard/", q=query)["count"] == 1
    shown = superset.get(f"/api/v1/dashboard/{dashboard.SLUG}/charts")["result"]
    assert sorted(chart["slice_name"] for chart in shown) == sorted(bundle_titles(settings))
    metadata = json.loads(superset.get(f"/api/v1/dashboard/{dashboard.SLUG}")["result"]["json_metadata"])
    assert metadata["refresh_frequency"] == 10
    time_range = next(f for f in metadata["native_filter_configuration"] if f["filterType"] == "filter_time")
    assert time_range["defaultDataMask"]["extraFormData"]["time_range"] == 'DATEADD(DATETIME("now"), -1, hour) : now'

    changed = json.loads(json.dumps(files))
    changed["charts/revenue.yaml"]["slice_name"] = "Revenue (changed bundle)"
    try:
        dashboard.import_bundle(settings, changed)
        titles = {chart["slice_name"] for chart in superset.get(f"/api/v1/dashboard/{dashboard.SLUG}/charts")["result"]}
        assert "Revenue (changed bundle)" in titles
        assert "Revenue" not in titles
        assert superset.get("/api/v1/dashboard/", q=query)["count"] == 1
    finally:
        dashboard.import_bundle(settings, files)


def test_superset_reads_mysql_as_the_read_only_user_which_cannot_write(settings, superset):
    databases = superset.get("/api/v1/database/")["result"]
    assert [db["database_name"] for db in databases] == ["Sales (MySQL)"]
    uri = superset.get(f"/api/v1/database/{databases[0]['id']}/connection")["result"]["sqlalchemy_uri"]
    assert uri.startswith(f"mysql+pymysql://{settings.mysql_readonly_user}:")

    with (
        pymysql.connect(
            host=settings.mysql_host,
            port=settings.mysql_port,
            user=settings.mysql_readonly_user,
            password=settings.mysql_readonly_password.get_secret_value(),
            database=settings.mysql_database,
        ) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT COUNT(*) FROM sales_by_minute")
        for statement in (
            "INSERT INTO stream_commits (query_name, batch_id) VALUES ('intruder', 1)",
            "UPDATE sales_by_minute SET revenue = 0",
            "DELETE FROM customers",
            "DROP TABLE stream_progress",
            "CREATE TABLE intruder (id INT)",
        ):
            with pytest.raises(pymysql.err.OperationalError) as refused:
                cursor.execute(statement)
            assert refused.value.args[0] == 1142, statement  # command denied to user


def test_dashboard_shows_mysql_numbers_and_follows_new_orders(settings, api, mysql, page):
    # So every chart has data to draw, even on a fresh stack, and the freshness is recent.
    counted_before = posted_orders_counted(mysql)
    posted = post_orders(api, 5)
    deadline = time.monotonic() + 180
    while posted_orders_counted(mysql) < counted_before + len(posted):
        assert time.monotonic() < deadline, "the 5 orders posted did not reach MySQL in 180 s"
        time.sleep(1)
    page.goto(dashboard.dashboard_url(settings), wait_until="domcontentloaded")
    wait_until_drawn(page, bundle_titles(settings))

    # The page refreshes every 10 s while earlier batches may still land: it
    # must match MySQL at some refresh within a minute.
    deadline = time.monotonic() + 60
    while (shown := big_numbers(page))[:2] != (stored := in_mysql(mysql)):
        assert time.monotonic() < deadline, f"dashboard shows {shown[:2]}, MySQL holds {stored}"
        time.sleep(1)
    revenue, orders, average = shown
    assert abs(average - revenue / orders) <= Decimal("0.005")
    # Now minus the newest committed event time: the orders just posted are in, so it is seconds
    # (negative only by an order's allowed 5 minutes in the future).
    [freshness] = big_numbers(page, ("Pipeline freshness (s)",))
    assert -300 <= freshness <= 300, freshness

    counted_before = posted_orders_counted(mysql)
    posted = post_orders(api, 20)
    posted_at = time.monotonic()
    while posted_orders_counted(mysql) < counted_before + len(posted):
        assert time.monotonic() < posted_at + 180, "the 20 orders posted did not reach MySQL in 180 s"
        time.sleep(0.5)
    stored_after = time.monotonic() - posted_at
    # The open page, never reloaded, shows MySQL's totals, which now hold them, at one of its next
    # refreshes (the last hour's totals also lose what ages out of it, on both sides alike).
    deadline = time.monotonic() + 60
    while (shown := big_numbers(page))[:2] != (stored := in_mysql(mysql)):
        assert time.monotonic() < deadline, f"dashboard shows {shown[:2]}, MySQL holds {stored}"
        time.sleep(0.5)
    shown_after = time.monotonic() - posted_at
    print(f"posted 20 orders: in MySQL after {stored_after:.1f}s, on the open dashboard after {shown_after:.1f}s")
    assert shown_after <= stored_after + 10 + 10  # one refresh period, plus the queries and drawing

    wait_until_drawn(page, bundle_titles(settings))  # not mid-refresh
    artifacts = settings.state_path / "test-artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=artifacts / "dashboard.png", full_page=True)
    print(f"screenshot: {artifacts / 'dashboard.png'}")


def test_time_ranges_are_parsed_one_at_a_time_so_concurrent_charts_never_show_parse_errors(settings, tmp_path):
    # Superset's pyparsing grammar is shared by its gunicorn threads; two charts
    # parsing at once failed with "Expected '(', found ')'" (CI, 2026-11-23).
    since = 'DATEADD(DATETIME("now"), -1, hour)'
    env = {
        **os.environ,
        "SUPERSET_CONFIG_PATH": str(SUPERSET_DIR / "superset_config.py"),
        "SUPERSET_HOME": str(tmp_path),
        "SUPERSET_SECRET_KEY": settings.superset_secret_key.get_secret_value(),
    }
    result = subprocess.run(
        [SUPERSET_DIR / ".venv/bin/python", "-c", PARSE_OVERLAP % since],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-1] == "1", f"parses overlapped: {result.stdout}"
