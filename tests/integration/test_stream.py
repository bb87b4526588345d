"""The Spark job on the real stack: orders through the API end up exactly once in Cassandra and MySQL.

Each test uses its own product ids and a random past hour of event time, so
its windows are its own; sales_by_minute is compared net of what those
windows held before the test.
"""
import os
import random
import signal
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from pipeline.contract import Order
from pipeline.simulate import OrderGenerator
from pipeline.stack import processes
from pipeline.stack.services import services
from tests import reference
from tests.integration.helpers import stack

SALES_COLUMNS = "window_start, window_end, source, state, payment_method, currency, orders, units, revenue"


@pytest.fixture(scope="module")
def window(settings) -> timedelta:
    return pd.Timedelta(settings.window_duration).to_pytimedelta()


class Run:
    """Orders of one test: unique product ids, event times spread over `span` of a random past hour."""

    def __init__(self, count: int, span: timedelta = timedelta(minutes=5)):
        self.tag = f"t{uuid.uuid4().hex[:10]}"
        self.start = datetime(2010, 1, 1, tzinfo=timezone.utc) + timedelta(hours=random.randrange(100_000))
        self.span = span
        generator = OrderGenerator(seed=random.randrange(2**32))
        self.orders = []
        for i in range(count):
            body = generator.valid_order()
            body.update(product_id=f"{self.tag}-{body['product_id']}"[:64],
                        created_at=(self.start + span * i / count).isoformat())
            self.orders.append(Order.model_validate(body))

    def bodies(self, orders: list[Order]) -> list[dict]:
        return [order.model_dump(mode="json") for order in orders]


def post(api, run: Run, orders: list[Order], chunk: int = 250, pause: float = 0.0) -> None:
    for i in range(0, len(orders), chunk):
        answer = api.post("/orders/batch", json=run.bodies(orders[i:i + chunk]))
        assert answer.status_code == 202, answer.text
        time.sleep(pause)


def sales_rows(mysql, run: Run) -> dict[tuple, tuple]:
    with mysql.cursor() as cursor:
        cursor.execute(f"SELECT {SALES_COLUMNS} FROM sales_by_minute WHERE window_start >= %s AND window_start < %s",
                       (run.start.replace(tzinfo=None), (run.start + run.span + timedelta(minutes=2)).replace(tzinfo=None)))
        return {tuple(row[:6]): tuple(row[6:]) for row in cursor.fetchall()}


def product_rows(mysql, run: Run) -> dict[tuple, tuple]:
    with mysql.cursor() as cursor:
        cursor.execute("SELECT window_start, window_end, product_id, orders, units, revenue "
                       "FROM product_sales_by_minute WHERE product_id LIKE %s", (f"{run.tag}-%",))
        return {tuple(row[:3]): tuple(row[3:]) for row in cursor.fetchall()}


def net(after: dict, before: dict) -> dict:
    """What the test added to each window (windows it did not touch drop out)."""
    added = {}
    for key, (count, units, revenue) in after.items():
        was = before.get(key, (0, 0, 0))
        if count != was[0]:
            added[key] = (count - was[0], units - was[1], revenue - was[2])
    return added


def cassandra_rows(cassandra, orders: list[Order]) -> dict[str, object]:
    select = cassandra.prepare("SELECT * FROM orders WHERE order_id IN ?")
    found = {}
    for i in range(0, len(orders), 100):
        for row in cassandra.execute(select, ([o.order_id for o in orders[i:i + 100]],)):
            found[str(row.order_id)] = row
    return found


def wait_until_stored(cassandra, mysql, run: Run, window: timedelta, timeout: float = 300) -> None:
    """Until Cassandra has every order and MySQL's product windows match, or timeout (the asserts then say what differs)."""
    expected_products = reference.product_sales_by_minute(run.orders, window)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(cassandra_rows(cassandra, run.orders)) == len(run.orders) and product_rows(mysql, run) == expected_products:
            return
        time.sleep(2)


def assert_stored_exactly(cassandra, mysql, run: Run, sales_before: dict, window: timedelta) -> None:
    states = reference.customer_states()
    stored = cassandra_rows(cassandra, run.orders)
    assert len(stored) == len(run.orders)
    for order in run.orders:
        row = stored[str(order.order_id)]
        assert (row.customer_id, row.source, row.product_id, row.quantity, row.unit_price, row.currency,
                row.payment_method, row.total, row.state) == (
            order.customer_id, order.source.value, order.product_id, order.quantity, order.unit_price,
            order.currency, order.payment_method and order.payment_method.value, order.total,
            states.get(order.customer_id, "??"))
        # Cassandra's timestamp type keeps milliseconds.
        assert row.created_at == order.created_at.replace(tzinfo=None, microsecond=order.created_at.microsecond // 1000 * 1000)

    by_time = cassandra.prepare("SELECT order_id, product_id FROM orders_by_time WHERE day = ? AND bucket = ?")
    partitions = {(o.created_at.date(), o.created_at.hour * 60 + o.created_at.minute) for o in run.orders}
    in_time_table = [row.order_id for partition in partitions for row in cassandra.execute(by_time, partition)
                     if row.product_id.startswith(run.tag)]
    assert sorted(map(str, in_time_table)) == sorted(str(o.order_id) for o in run.orders)

    assert product_rows(mysql, run) == reference.product_sales_by_minute(run.orders, window)
    assert net(sales_rows(mysql, run), sales_before) == reference.sales_by_minute(run.orders, states, window)


def test_orders_through_the_api_land_exactly_once_in_cassandra_and_mysql(api, cassandra, mysql, window):
    run = Run(3000)
    before = sales_rows(mysql, run)
    post(api, run, run.orders)
    post(api, run, random.sample(run.orders, 200))  # a client resending: same order_ids, counted once
    wait_until_stored(cassandra, mysql, run, window)
    assert_stored_exactly(cassandra, mysql, run, before, window)


def test_malformed_records_go_to_the_dead_letter_topic_and_valid_ones_pass(settings, cassandra):
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    partitions = [TopicPartition(settings.dlq_topic, p) for p in consumer.partitions_for_topic(settings.dlq_topic)]
    consumer.assign(partitions)
    for partition, offset in consumer.end_offsets(partitions).items():
        consumer.seek(partition, offset)

    valid = Run(20).orders
    poison = [os.urandom(64), b'{"customer_id": 7, "source": "Dine', b'{"customer_id": "7", "source": "Dine In", "quantity": 1}',
              b'{"customer_id": 7, "source": "Dine In", "quantity": 1e999}', b"[]", b"",
              b'{"customer_id": 7, "source": "Dine In", "quantity": 2, "unit_price": "1.00", "total": "9.99"}',
              b'{"customer_id": 7, "source": "Dine In", "quantity": 1, "drop table": "orders; --"}']
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    sent = {}
    for value in [o.record()[1] for o in valid[:10]] + poison + [o.record()[1] for o in valid[10:]]:
        metadata = producer.send(settings.orders_topic, value=value).get(timeout=30)
        sent[(metadata.partition, metadata.offset)] = value
    producer.close()
    poisoned = {position: value for position, value in sent.items() if value in poison}

    letters, deadline = {}, time.monotonic() + 180
    while len(letters) < len(poisoned) and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=1000).values():
            for record in batch:
                headers = {key: value.decode() for key, value in record.headers}
                position = (int(headers["dlq.source.partition"]), int(headers["dlq.source.offset"]))
                if headers["dlq.source.topic"] == settings.orders_topic and position in poisoned:
                    letters[position] = (record.value, headers["dlq.reason"])
    consumer.close()

    assert set(letters) == set(poisoned)
    for position, (value, reason) in letters.items():
        assert (value or b"") == poisoned[position]
        assert ": " in reason, reason
    deadline = time.monotonic() + 60  # the batch writes Cassandra alongside the dead letters
    while len(cassandra_rows(cassandra, valid)) < len(valid) and time.monotonic() < deadline:
        time.sleep(1)
    assert sorted(cassandra_rows(cassandra, valid)) == sorted(str(o.order_id) for o in valid)


def spark_service(settings):
    return next(s for s in services(settings) if s.name == "spark")


def test_kill_9_mid_stream_then_submit_again_still_counts_exactly_once(settings, api, cassandra, mysql, window):
    run = Run(4000)
    before = sales_rows(mysql, run)
    sender = threading.Thread(target=post, args=(api, run, run.orders, 100, 0.15))
    sender.start()
    time.sleep(6)
    pid = processes.running_pid(spark_service(settings).pid_file(settings))
    assert pid, "the Spark job is not running"
    os.killpg(pid, signal.SIGKILL)
    while processes.alive(pid):
        time.sleep(0.1)
    resubmitted = stack("up", "spark")
    assert resubmitted.returncode == 0, resubmitted.stdout + resubmitted.stderr
    sender.join()
    wait_until_stored(cassandra, mysql, run, window)
    assert_stored_exactly(cassandra, mysql, run, before, window)


def test_submit_twice_runs_one_job_and_stop_job_lets_it_finish(settings):
    service = spark_service(settings)
    pid = processes.running_pid(service.pid_file(settings))
    again = stack("up", "spark")
    assert again.returncode == 0 and "already running" in again.stdout
    assert processes.running_pid(service.pid_file(settings)) == pid

    stopped = stack("down", "spark")
    assert stopped.returncode == 0, stopped.stderr
    assert not processes.alive(pid)
    log = service.log_file(settings).read_text()
    assert "orders_stream: stopped" in log[-5000:], "the driver did not finish its batch and stop by itself"
    started = stack("up", "spark")
    assert started.returncode == 0, started.stdout + started.stderr
