"""Ground truth for the stream's tests: orders of one run, and what Cassandra and MySQL must then hold.

Each run uses its own product ids and a random minute of the last day as its
event time, within what MySQL keeps (MINUTE_WINDOWS_KEEP_DAYS): its product
windows are its own; sales_by_minute is compared net of what those windows
held before the run, and the product rollups to the hour and day too.
"""

import asyncio
import io
import json
import random
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from cassandra.cluster import OperationTimedOut

from cassandra import ReadTimeout
from pipeline import simulate
from pipeline.contract import Order
from pipeline.settings import Settings
from pipeline.simulate import Generated, OrderGenerator, Tally
from spark_jobs.transforms import ROLLUPS
from tests import reference

SALES_COLUMNS = "window_start, window_end, source, state, payment_method, currency, orders, units, revenue"


class Run:
    """Orders of one test: unique product ids, event times spread over `span` from a random minute
    between 3 and 30 hours ago (late for the watermark, still counted; kept by retention)."""

    taken: ClassVar[list[tuple[datetime, datetime]]] = []  # the windows of every Run so far, never shared by two

    def __init__(self, count: int, span: timedelta = timedelta(minutes=5)):
        self.tag = f"t{uuid.uuid4().hex[:10]}"
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        # A test reads a run's sales windows by time (they have no product): two runs in one
        # window would count each other's orders.
        for _ in range(10_000):
            self.start = now - timedelta(minutes=random.randrange(3 * 60, 30 * 60))
            end = self.start + span + timedelta(minutes=2)
            if all(end <= start or self.start >= stop for start, stop in Run.taken):
                break
        else:
            raise RuntimeError("no free time left 3 to 30 hours ago for another run")
        Run.taken.append((self.start, end))
        self.span = span
        generator = OrderGenerator(seed=random.randrange(2**32))
        self.orders = []
        for i in range(count):
            body = generator.valid_order()
            body.update(
                product_id=f"{self.tag}-{body['product_id']}"[:64],
                created_at=(self.start + span * i / count).isoformat(),
            )
            self.orders.append(Order.model_validate(body))

    def bodies(self, orders: list[Order]) -> list[dict]:
        return [order.model_dump(mode="json") for order in orders]


def post(api, run: Run, orders: list[Order], chunk: int = 250, pause: float = 0.0) -> None:
    for i in range(0, len(orders), chunk):
        answer = api.post("/orders/batch", json=run.bodies(orders[i : i + chunk]))
        assert answer.status_code == 202, answer.text
        time.sleep(pause)


class Delivery(threading.Thread):
    """Sends orders through the API in the background at `rate` orders/s, as a careful client does.

    Batches of `batch_size`; after a 503, a refused connection or no answer,
    the same batch (same order_ids) is sent again (pipeline.simulate's retry).
    Afterwards `tally` says what happened and `accepted` holds the order_ids
    the API answered 202 for: the ground truth of what must reach the stores.
    """

    def __init__(self, settings: Settings, orders: list[Order], rate: float, batch_size: int = 100):
        super().__init__(name="delivery", daemon=True)
        self.settings, self.orders, self.rate, self.batch_size = settings, orders, rate, batch_size
        self.tally, self.accepted = Tally(), set[str]()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self.send())
        except BaseException as error:  # re-raised by finish(), in the test's thread
            self.error = error

    async def send(self) -> None:
        accepted, concurrency = io.StringIO(), 16
        # At most `concurrency` batches between first send and final answer (retries included):
        # when the API refuses, the schedule slips instead of requests queueing in the client.
        in_flight = asyncio.Semaphore(concurrency)

        async def post(client, items: list[Generated]) -> None:
            async with in_flight:
                await simulate.post(client, items, True, self.tally, 120, accepted)

        async with simulate.api_session(self.settings, concurrency) as client:
            started, requests = time.monotonic(), []
            for first in range(0, len(self.orders), self.batch_size):
                await asyncio.sleep(max(0.0, started + first / self.rate - time.monotonic()))
                items = [
                    Generated(order.model_dump(mode="json"), True)
                    for order in self.orders[first : first + self.batch_size]
                ]
                requests.append(asyncio.create_task(post(client, items)))
            await asyncio.gather(*requests)
        self.accepted = {json.loads(line)["order_id"] for line in accepted.getvalue().splitlines()}

    def finish(self) -> Tally:
        """Waits until every order was answered; the tally. Fails the test if the client saw anything but 202/503."""
        self.join()
        if self.error:
            raise self.error
        assert not self.tally.unexpected, self.tally.summary()
        assert not self.tally.given_up, self.tally.summary()
        assert self.accepted == {str(order.order_id) for order in self.orders}, self.tally.summary()
        return self.tally


def sales_rows(mysql, run: Run) -> dict[tuple, tuple]:
    with mysql.cursor() as cursor:
        cursor.execute(
            f"SELECT {SALES_COLUMNS} FROM sales_by_minute WHERE window_start >= %s AND window_start < %s",
            (run.start.replace(tzinfo=None), (run.start + run.span + timedelta(minutes=2)).replace(tzinfo=None)),
        )
        return {tuple(row[:6]): tuple(row[6:]) for row in cursor.fetchall()}


def product_rows(mysql, run: Run, period: str = "minute") -> dict[tuple, tuple]:
    """The run's product windows of product_sales_by_{period}."""
    with mysql.cursor() as cursor:
        cursor.execute(
            "SELECT window_start, window_end, product_id, orders, units, revenue "
            f"FROM product_sales_by_{period} WHERE product_id LIKE %s",
            (f"{run.tag}-%",),
        )
        return {tuple(row[:3]): tuple(row[3:]) for row in cursor.fetchall()}


def net(after: dict, before: dict) -> dict:
    """What the test added to each window (windows it did not touch drop out)."""
    added = {}
    for key, (count, units, revenue) in after.items():
        was = before.get(key, (0, 0, 0))
        if count != was[0]:
            added[key] = (count - was[0], units - was[1], revenue - was[2])
    return added


def cassandra_rows(cassandra, orders: list[Order], consistency_level: int | None = None) -> dict[str, Any]:
    """The rows of `orders` in Cassandra, read at the session's consistency or the one given."""
    select = cassandra.prepare("SELECT * FROM orders WHERE order_id IN ?")
    select.consistency_level = consistency_level
    found = {}
    for i in range(0, len(orders), 100):
        for row in cassandra.execute(select, ([o.order_id for o in orders[i : i + 100]],)):
            found[str(row.order_id)] = row
    return found


def wait_until_stored(cassandra, mysql, run: Run, window: timedelta, timeout: float = 300) -> None:
    """Until Cassandra has every order and MySQL's product windows match, or timeout.

    After a timeout the asserts say what differs."""
    expected_products = reference.product_sales_by_minute(run.orders, window)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            stored = len(cassandra_rows(cassandra, run.orders))
        except (ReadTimeout, OperationTimedOut):  # a node busy (a GC pause, a compaction): ask again
            stored = -1
        if stored == len(run.orders) and product_rows(mysql, run) == expected_products:
            return
        time.sleep(2)


def assert_stored_exactly(cassandra, mysql, run: Run, sales_before: dict, window: timedelta) -> None:
    states = reference.customer_states()
    stored = cassandra_rows(cassandra, run.orders)
    assert len(stored) == len(run.orders)
    for order in run.orders:
        row = stored[str(order.order_id)]
        assert (
            row.customer_id,
            row.source,
            row.product_id,
            row.quantity,
            row.unit_price,
            row.currency,
            row.payment_method,
            row.total,
            row.state,
        ) == (
            order.customer_id,
            order.source.value,
            order.product_id,
            order.quantity,
            order.unit_price,
            order.currency,
            order.payment_method and order.payment_method.value,
            order.total,
            states.get(order.customer_id, "??"),
        )
        # Cassandra's timestamp type keeps milliseconds.
        assert row.created_at == order.created_at.replace(
            tzinfo=None, microsecond=order.created_at.microsecond // 1000 * 1000
        )

    by_time = cassandra.prepare("SELECT order_id, product_id FROM orders_by_time WHERE day = ? AND bucket = ?")
    partitions = {(o.created_at.date(), o.created_at.hour * 60 + o.created_at.minute) for o in run.orders}
    in_time_table = [
        row.order_id
        for partition in partitions
        for row in cassandra.execute(by_time, partition)
        if row.product_id.startswith(run.tag)
    ]
    assert sorted(map(str, in_time_table)) == sorted(str(o.order_id) for o in run.orders)

    assert product_rows(mysql, run) == reference.product_sales_by_minute(run.orders, window)
    for period, length in ROLLUPS.items():  # written in each batch's transaction: exactly once too
        assert product_rows(mysql, run, period) == reference.product_sales_by_minute(run.orders, length), period
    added, expected = net(sales_rows(mysql, run), sales_before), reference.sales_by_minute(run.orders, states, window)
    assert added == expected, {
        key: (added.get(key), expected.get(key))
        for key in added.keys() | expected.keys()
        if added.get(key) != expected.get(key)
    }
