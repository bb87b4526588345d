"""The Superset dashboard on the real stack, in headless Chromium from Debian.

The browser logs in as the admin from .env, opens "Sales — real time", waits
until every chart has drawn, and checks the big numbers against MySQL. Then
it posts orders through the API and watches the revenue grow on the open page,
with no reload: the dashboard's own 10 s refresh has to bring it.
The last screenshot is saved in $STATE_DIR/test-artifacts/dashboard.png.
"""

import itertools
import json
import os
import subprocess
import time
from decimal import ROUND_UP, Decimal
from pathlib import Path
from uuid import uuid4

import pymysql
import pytest
from playwright.sync_api import Page

from pipeline.contract import Order
from pipeline.stack import dashboard
from tests.integration import dashboard_page

SUPERSET_DIR = Path(__file__).parents[2] / "superset"
# Run in Superset's virtualenv with this project's superset_config.py: eight
# threads evaluate the dashboard's time range at once, each parse slowed so
# any overlap shows; prints how many were inside the parser at most.
PARSE_OVERLAP = """
import threading, time
from superset import config  # runs SUPERSET_CONFIG_PATH, keeping only its upper-case names
from superset.utils import date_parser
config.FLASK_APP_MUTATOR.__globals__["serialize_time_range_parsing"]()
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
POSTED_ORDERS_COUNTED = (
    "SELECT COALESCE(SUM(orders), 0) FROM product_sales_by_minute WHERE product_id = 'dashboard-test'"
)
BIG_NUMBERS = ("Revenue", "Orders", "Average order value")
# The dashboard's defaults: the last hour, in USD; and the hour before it, which the big numbers compare with.
USD_BETWEEN = """
SELECT COALESCE(SUM(revenue), 0), COALESCE(SUM(orders), 0)
FROM sales_by_minute
WHERE currency = 'USD' AND window_start >= UTC_TIMESTAMP() - INTERVAL %s HOUR
  AND window_start < UTC_TIMESTAMP() - INTERVAL %s HOUR"""
REVENUE_BY_STATE = """
SELECT CONCAT('US-', state), SUM(revenue) FROM sales_by_minute
WHERE currency = 'USD' AND window_start >= UTC_TIMESTAMP() - INTERVAL 1 HOUR AND window_start < UTC_TIMESTAMP()
GROUP BY state"""


@pytest.fixture(scope="module")
def superset(settings):
    with dashboard.SupersetClient(settings) as client:
        yield client


@pytest.fixture(scope="module")
def chromium():
    with dashboard_page.browser() as browser:
        yield browser


@pytest.fixture(scope="module")
def page(settings, chromium):
    page = dashboard_page.new_page(chromium, settings)
    assert dashboard_page.sign_in(page, settings).endswith("/superset/welcome/")
    yield page
    page.close()


def charts(page: Page) -> dict[str, dict]:
    return dashboard_page.charts(page)


def wait_until_drawn(page: Page, expected: set[str], timeout: float = 120) -> dict[str, dict]:
    return dashboard_page.wait_until_drawn(page, expected, timeout)


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


def previous_numbers(page: Page) -> tuple[Decimal, ...]:
    """The previous period's revenue and orders beside the big numbers."""
    shown = charts(page)
    return tuple(number(shown[title]["previous"] or "nan") for title in BIG_NUMBERS[:2])


def in_mysql(mysql, hours_ago: int = 0) -> tuple[Decimal, Decimal]:
    """USD revenue and orders of the hour that ended `hours_ago` hours ago, as the minute windows hold them."""
    with mysql.cursor() as cursor:
        cursor.execute(USD_BETWEEN, (hours_ago + 1, hours_ago))
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
    post_batch(api, orders)
    return orders


def post_batch(api, orders: list[Order]) -> None:
    response = api.post(
        "/orders/batch",
        content=json.dumps([o.model_dump(mode="json") for o in orders]),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 202, response.text


def bundle_titles(settings) -> set[str]:
    return dashboard_page.chart_titles(settings)


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
    dashboard_page.open_dashboard(page, settings)
    wait_until_drawn(page, bundle_titles(settings))

    # The page refreshes every 10 s while earlier batches may still land: it
    # must match MySQL at some refresh within a minute.
    deadline = time.monotonic() + 60
    while (shown := big_numbers(page))[:2] != (stored := in_mysql(mysql)):
        assert time.monotonic() < deadline, f"dashboard shows {shown[:2]}, MySQL holds {stored}"
        time.sleep(1)
    revenue, orders, average = shown
    assert abs(average - revenue / orders) <= Decimal("0.005")
    # Beside each, the hour before: the previous period of the same length.
    deadline = time.monotonic() + 60
    while (previous := previous_numbers(page)) != (stored := in_mysql(mysql, hours_ago=1)):
        assert time.monotonic() < deadline, f"dashboard compares with {previous}, MySQL's hour before holds {stored}"
        time.sleep(1)
    # Now minus the newest committed event time: the orders just posted are in, so it is seconds
    # (negative only by an order's allowed 5 minutes in the future).
    [freshness, since_batch] = big_numbers(page, ("Since the newest order (s)", "Since the last batch (s)"))
    assert -300 <= freshness <= 300, freshness
    assert 0 <= since_batch <= 300, since_batch

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


def test_twenty_sign_ins_in_a_row_land_signed_in_with_no_request_blocked(settings, chromium):
    # The login page's own event log goes out as the form submits; it must not replace the session.
    landed: list[tuple[str, str]] = []  # where signing in landed, and where the dashboard then opened
    for _ in range(20):
        context = chromium.new_context()
        page = context.new_page()
        page.route(lambda url: not url.startswith(settings.superset_url), lambda route: route.abort())
        signed_in = dashboard_page.sign_in(page, settings)
        page.goto(dashboard.dashboard_url(settings), wait_until="domcontentloaded")
        landed.append((signed_in, page.url))
        context.close()
    bounced = [urls for urls in landed if "/login/" in urls[0] or "/login/" in urls[1]]
    assert not bounced, f"{len(bounced)} of 20 sign-ins sent back to the login page: {bounced}"


def lightness(fill: str) -> float:
    """Relative luminance of a CSS rgb() fill: the sequential scheme goes from light (least) to dark."""
    red, green, blue = (int(part) / 255 for part in fill.removeprefix("rgb(").removesuffix(")").split(","))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def give_three_states_the_most_revenue(api, mysql) -> None:
    """Orders that give three states 2, 4 and 8 times what any state took in the last hour. A
    linear scale with one state far ahead (another test's order can be a billion) fills every
    other state alike; these three are then filled apart whatever else the hour holds."""
    with mysql.cursor() as cursor:
        cursor.execute(REVENUE_BY_STATE)
        top = max([Decimal(total) for _, total in cursor.fetchall()], default=Decimal(0)) + 100
        cursor.execute("SELECT MIN(customer_id) FROM customers WHERE state <> '??' GROUP BY state LIMIT 3")
        customers = [customer for (customer,) in cursor.fetchall()]
    orders = []
    for customer, factor in zip(customers, (2, 4, 8), strict=True):
        # At most 10**11 an order: the contract's total has 14 digits.
        count = int(top * factor // 10**11) + 1
        unit_price = (top * factor / count / 10_000).quantize(Decimal("0.01"), rounding=ROUND_UP)
        orders += [
            Order(customer_id=customer, source="Dine In", product_id="map-test", quantity=10_000, unit_price=unit_price)
            for _ in range(count)
        ]
    post_batch(api, orders)


def test_the_map_fills_states_darker_the_more_revenue_they_have(settings, api, mysql, page):
    give_three_states_the_most_revenue(api, mysql)
    dashboard_page.open_dashboard(page, settings)
    deadline = time.monotonic() + 90
    while True:
        wait_until_drawn(page, {"Revenue by US state"})
        fills = charts(page)["Revenue by US state"]["fills"]
        with mysql.cursor() as cursor:
            cursor.execute(REVENUE_BY_STATE)
            revenue = {state: Decimal(total) for state, total in cursor.fetchall() if state in fills}
        by_revenue = sorted(revenue, key=lambda state: revenue[state])
        # Never lighter with more revenue, for every state the map shows (close revenues can round
        # to one 8-bit colour), and at least three visibly different fills.
        # A state with no fill yet ("none") has orders the chart's last query did not see: wait for a refresh.
        ordered = all(fills[state] != "none" for state in by_revenue) and all(
            lightness(fills[less]) >= lightness(fills[more]) for less, more in itertools.pairwise(by_revenue)
        )
        if len({fills[state] for state in by_revenue}) >= 3 and ordered:
            break
        shown = [(state, revenue[state], fills[state]) for state in by_revenue]
        assert time.monotonic() < deadline, f"fills not ordered like revenue: {shown}"
        time.sleep(2)
    assert len(revenue) >= 3


@pytest.mark.parametrize("time_range", dashboard_page.TIME_RANGES)
def test_every_chart_draws_on_each_time_range(settings, page, time_range):
    dashboard_page.open_dashboard(page, settings, dashboard_page.TIME_RANGES[time_range])
    shown = wait_until_drawn(page, bundle_titles(settings))
    assert all(value is not None for value in big_numbers(page)), shown
