"""Dashboard: every chart's query through Superset over 7 days of sales at 500 orders/s.

Usage:
    python -m bench --only dashboard
    python -m bench --only dashboard --scale 0.1   # 17 hours of sales instead of 7 days

1. Writes the sales straight into MySQL, as the job would have written them:
   one minute of the load generator's orders at 500 orders/s (30 000 orders,
   its customers, products, sources, payment methods and currencies), summed
   into that minute's windows, copied into every minute of the span up to now;
   the hourly and daily rollups of those minutes; a progress row every 2 s.
   The window tables are emptied first: this is the benchmark's own stack.
2. Opens the dashboard in headless Chromium on each time range a user picks
   (last hour, today, last 7 days) and keeps the chart-data request each chart
   sends (the chart-data API; explore_json for the map, a legacy chart).
3. Sends each of those requests again from the signed-in browser, one at a
   time, three times, and reports each chart's median answer on each range.
   superset_config.py turns Superset's caches off, so every answer is a query
   of MySQL.
"""

import json
import re
import statistics
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import Request

from bench import HarnessError
from bench.orders import Run
from bench.report import say
from pipeline.clients import mysql_admin
from pipeline.settings import Settings
from pipeline.simulate import OrderGenerator
from spark_jobs.transforms import NO_PAYMENT_METHOD, UNKNOWN_STATE
from tests.integration import dashboard_page

RATE = 500  # orders/s
DAYS = 7  # of sales, at scale 1
PROGRESS_EVERY_S = 2
REPEATS = 3
# What a chart asks Superset for its data: the chart-data API, or (the map, a legacy chart) explore_json.
CHART_DATA = re.compile(r"/api/v1/chart/data|/superset/explore_json/")
WINDOW_TABLES = ("sales_by_minute", "sales_by_hour", "sales_by_day")
PRODUCT_TABLES = ("product_sales_by_minute", "product_sales_by_hour", "product_sales_by_day")
SALES = "source, state, payment_method, currency"
# Each generated minute, and the minutes each hour and day of the span holds.
SPANS = {
    "minute": "SELECT minute_start AS window_start, 1 AS minutes FROM bench_minutes",
    "hour": "SELECT DATE_FORMAT(minute_start, '%Y-%m-%d %H:00:00') AS window_start, COUNT(*) AS minutes "
    "FROM bench_minutes GROUP BY 1",
    "day": "SELECT DATE(minute_start) AS window_start, COUNT(*) AS minutes FROM bench_minutes GROUP BY 1",
}


def one_minute(states: dict[int, str]) -> tuple[Counter, Counter]:
    """The load generator's orders of one minute at RATE, summed per sales and per product dimensions:
    (orders, units, revenue) counters keyed by (source, state, payment method, currency) and product."""
    generator = OrderGenerator(seed=500)
    sales: Counter = Counter()
    products: Counter = Counter()
    for _ in range(RATE * 60):
        order = generator.valid_order()
        revenue = order["quantity"] * Decimal(order["unit_price"])
        key = (
            order["source"],
            states.get(order["customer_id"], UNKNOWN_STATE),
            order.get("payment_method", NO_PAYMENT_METHOD),
            order["currency"],
        )
        for counter, at in ((sales, key), (products, order["product_id"])):
            counter[at, "orders"] += 1
            counter[at, "units"] += order["quantity"]
            counter[at, "revenue"] += revenue
    return sales, products


def rows(counter: Counter) -> list[tuple]:
    keys = sorted({key for key, _ in counter})
    return [
        (
            *(key if isinstance(key, tuple) else (key,)),
            counter[key, "orders"],
            counter[key, "units"],
            counter[key, "revenue"],
        )
        for key in keys
    ]


def write_sales(settings: Settings, minutes: int) -> dict:
    """Step 1: the span's windows, rollups and progress rows in MySQL; what was written."""
    end = datetime.now(UTC).replace(tzinfo=None, second=0, microsecond=0)
    start = end - timedelta(minutes=minutes)
    with mysql_admin(settings, database=settings.mysql_database, autocommit=True) as mysql, mysql.cursor() as cursor:
        cursor.execute("SET time_zone = '+00:00'")
        cursor.execute("SELECT customer_id, state FROM customers")
        sales, products = one_minute(dict(cursor.fetchall()))
        cursor.execute("CREATE TEMPORARY TABLE bench_minutes (minute_start DATETIME PRIMARY KEY)")
        cursor.executemany(
            "INSERT INTO bench_minutes VALUES (%s)", [(start + timedelta(minutes=m),) for m in range(minutes)]
        )
        cursor.execute(
            "CREATE TEMPORARY TABLE bench_sales (source VARCHAR(16), state CHAR(2), payment_method VARCHAR(16), "
            "currency CHAR(3), orders BIGINT, units BIGINT, revenue DECIMAL(20, 2))"
        )
        cursor.executemany("INSERT INTO bench_sales VALUES (%s, %s, %s, %s, %s, %s, %s)", rows(sales))
        cursor.execute(
            "CREATE TEMPORARY TABLE bench_products (product_id VARCHAR(64), orders BIGINT, units BIGINT, "
            "revenue DECIMAL(20, 2))"
        )
        cursor.executemany("INSERT INTO bench_products VALUES (%s, %s, %s, %s)", rows(products))
        written = {}
        for (period, span), table, product_table in zip(SPANS.items(), WINDOW_TABLES, PRODUCT_TABLES, strict=True):
            for target, template, dimensions in (
                (table, "bench_sales", SALES),
                (product_table, "bench_products", "product_id"),
            ):
                cursor.execute(f"TRUNCATE TABLE {target}")
                began = time.monotonic()
                written[target] = cursor.execute(
                    f"INSERT INTO {target} (window_start, window_end, {dimensions}, orders, units, revenue) "
                    f"SELECT span.window_start, span.window_start + INTERVAL 1 {period.upper()}, {dimensions}, "
                    "orders * span.minutes, units * span.minutes, revenue * span.minutes "
                    f"FROM ({span}) span CROSS JOIN {template}"
                )
                say(f"  dashboard: {written[target]:,} rows into {target} ({time.monotonic() - began:.0f} s)")
        cursor.execute("DELETE FROM stream_progress WHERE query_name = 'bench-dashboard'")
        written["stream_progress"] = cursor.execute(
            "INSERT INTO stream_progress (query_name, checkpoint_id, batch_id, input_rows, dead_letters, "
            "rows_per_second, duration_ms, max_event_time, watermark, late_rows, consumer_lag, recorded_at) "
            f"SELECT 'bench-dashboard', '', UNIX_TIMESTAMP(minute_start) DIV 60 * {60 // PROGRESS_EVERY_S} + n, "
            f"{RATE * PROGRESS_EVERY_S}, 0, {RATE}, 1500, at, at - INTERVAL 2 MINUTE, 0, 0, at "
            f"FROM (SELECT minute_start, minute_start + INTERVAL n * {PROGRESS_EVERY_S} SECOND AS at, n "
            "FROM bench_minutes CROSS JOIN ("
            + " UNION ALL ".join(f"SELECT {n} AS n" for n in range(60 // PROGRESS_EVERY_S))
            + ") every) seconds"
        )
    per_minute = sum(count for (_, what), count in sales.items() if what == "orders")
    return {"start": start.isoformat(), "end": end.isoformat(), "orders_per_minute": per_minute, "rows": written}


def slice_id(request: Request) -> str | None:
    """The chart a chart-data request is for: in its URL's form_data (both endpoints), or its body's."""
    in_url = parse_qs(urlparse(request.url).query).get("form_data")
    form_data = json.loads(in_url[0]) if in_url else (request.post_data_json or {}).get("form_data", {})
    return str(form_data["slice_id"]) if "slice_id" in form_data else None


def time_charts(settings: Settings) -> dict[str, dict]:
    """Steps 2 and 3: per chart title, per time range, the seconds of its chart-data request sent again."""
    charts: dict[str, dict] = {}
    with dashboard_page.browser() as chromium:
        page = dashboard_page.new_page(chromium, settings)
        dashboard_page.sign_in(page, settings)
        titles = dashboard_page.chart_titles(settings)
        for name, time_range in dashboard_page.TIME_RANGES.items():
            sent: list[Request] = []

            def chart_data(request: Request, sent: list[Request] = sent) -> None:
                if CHART_DATA.search(request.url):
                    sent.append(request)

            page.on("request", chart_data)
            began = time.monotonic()
            dashboard_page.open_dashboard(page, settings, time_range)
            shown = dashboard_page.wait_until_drawn(page, titles, timeout=300)
            page.remove_listener("request", chart_data)
            say(f"  dashboard: {name}: every chart drawn in the browser after {time.monotonic() - began:.1f} s")
            by_id = {chart["id"]: title for title, chart in shown.items()}
            requests = {by_id[slice_id(r)]: r for r in sent if slice_id(r) in by_id}
            if set(requests) != titles:
                raise HarnessError(f"{name}: no chart-data request seen for {sorted(titles - set(requests))}")
            page.goto("about:blank")  # no 10 s refresh beside the timed requests
            for title, request in sorted(requests.items()):
                seconds = []
                for _ in range(REPEATS):  # one at a time, signed in as the browser is
                    began = time.monotonic()
                    answer = page.request.fetch(request, timeout=120_000)
                    seconds.append(time.monotonic() - began)
                    if not answer.ok:
                        raise HarnessError(f"chart {title!r} on {name}: {answer.status} {answer.text()[:500]}")
                charts.setdefault(title, {})[name] = {"median_s": statistics.median(seconds), "max_s": max(seconds)}
                say(f"  dashboard: {title} on {name}: median {statistics.median(seconds) * 1000:,.0f} ms")
    return charts


def run(settings: Settings, run: Run) -> dict:
    minutes = max(60, round(DAYS * 24 * 60 * run.scale))
    say(f"dashboard: writing {minutes:,} minutes of sales at {RATE} orders/s into MySQL")
    data = write_sales(settings, minutes)
    charts = time_charts(settings)
    slowest = max(max(ranges.values(), key=lambda r: r["median_s"])["median_s"] for ranges in charts.values())
    return {"rate": RATE, "minutes": minutes, "data": data, "charts": charts, "slowest_median_s": slowest}
