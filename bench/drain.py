"""Drain: a backlog preloaded into Kafka, timed until both stores hold all of it.

Usage:
    python -m bench --only drain
    python -m bench --only drain --scale 0.1   # 20 000 orders instead of 200 000

1. Waits until the Spark job has caught up with the orders topic, then stops
   it (`python -m pipeline.stack down spark`: the running batch finishes first).
2. Produces 200 000 orders (product bench-drain-<run id>) straight to the
   orders topic with the API's producer settings.
3. Starts the job (`python -m pipeline.stack up spark`) and times from that
   command's start until MySQL counts every one of the orders. The MySQL
   transaction is each batch's last write (spark_jobs/sinks.py), so Cassandra
   holds them too by then; the benchmark checks that it does, by order_id.
   Also reported: the rate from when the job answered (the launcher returned).
4. Ceiling: the same orders inserted into the same Cassandra table, `orders`,
   by cassandra-driver's execute_concurrent_with_args from this one process,
   with the values the job wrote (the state from the customers dimension,
   UNKNOWN_STATE when the customer is not in it), so the table ends as it was.

The job is left running, also when the phase fails.
"""

import time
from uuid import UUID

from cassandra.concurrent import execute_concurrent_with_args

from bench import HarnessError, orders, stack
from bench.orders import Run
from bench.report import Every, say
from pipeline.contract import Order
from pipeline.settings import Settings
from spark_jobs.transforms import UNKNOWN_STATE

ORDERS = 200_000  # at scale 1
INSERT = (
    "INSERT INTO orders (order_id, customer_id, source, product_id, quantity, unit_price, currency, "
    "payment_method, created_at, total, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
SELECT = "SELECT order_id FROM orders WHERE order_id IN ?"
IDS_PER_QUERY = 200
CEILING_CONCURRENCY = 150  # requests in flight from the driver
CEILING_CHUNK = 20_000  # rows between two progress lines


def customer_states(settings: Settings) -> dict[int, str]:
    with stack.mysql(settings) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT customer_id, state FROM customers")
        return dict(cursor.fetchall())


def cassandra_row(order: Order, states: dict[int, str]) -> tuple:
    """The `orders` row the job writes for order (INSERT's column order)."""
    return (
        order.order_id,
        order.customer_id,
        order.source.value,
        order.product_id,
        order.quantity,
        order.unit_price,
        str(order.currency),
        order.payment_method and order.payment_method.value,
        order.created_at,
        order.total,
        states.get(order.customer_id, UNKNOWN_STATE),
    )


def preload(settings: Settings, records: list[tuple[bytes, bytes]]) -> float:
    """Produce records to the orders topic; the seconds it took. HarnessError if any was not acknowledged."""
    # A preload, not a measurement: a long delivery timeout, so a burst queued faster than
    # the broker acknowledges is not failed after the API's 1.5 s.
    producer = stack.kafka_producer(settings, **{"message.timeout.ms": 120_000})
    tick, started = Every(5), time.monotonic()

    def progress(produced: int) -> None:
        if tick():
            say(f"  drain: {produced:,} of {len(records):,} orders produced")

    failed = stack.produce_all(producer, settings.orders_topic, records, progress)
    if failed:
        raise HarnessError(f"drain: Kafka did not acknowledge {failed:,} of the {len(records):,} preloaded orders")
    return time.monotonic() - started


def wait_until_counted(settings: Settings, product_id: str, expected: int, started: float) -> float:
    """Poll MySQL until it counts `expected` orders of product_id; the monotonic time it did."""
    timeout = 300 + expected / 500  # a cold job's first batches take a minute or more; then far beyond its pace
    tick = Every(5)
    with stack.mysql(settings) as connection:
        while (counted := stack.product_orders(connection, product_id)) < expected:
            stack.require_job(settings, "the preloaded orders")
            waited = time.monotonic() - started
            if waited > timeout:
                raise HarnessError(
                    f"drain: after {waited:.0f} s MySQL counts {counted:,} of the {expected:,} "
                    f"preloaded orders of product {product_id}"
                )
            if tick():
                say(f"  drain: {waited:.0f} s, MySQL counts {counted:,} of {expected:,} ({counted / waited:,.0f}/s)")
            time.sleep(0.2)
    if counted > expected:
        raise HarnessError(
            f"drain: MySQL counts {counted:,} orders of product {product_id}, "
            f"{expected:,} were produced: some were counted twice"
        )
    return time.monotonic()


def found_in_cassandra(session, order_ids: list[UUID]) -> int:
    select = session.prepare(SELECT)
    chunks = [(order_ids[i : i + IDS_PER_QUERY],) for i in range(0, len(order_ids), IDS_PER_QUERY)]
    answers = execute_concurrent_with_args(session, select, chunks, concurrency=16)
    return sum(len(rows.current_rows) for _, rows in answers)


def ceiling(session, rows: list[tuple]) -> dict:
    """The rows inserted concurrently from this process; inserted rows/s."""
    insert = session.prepare(INSERT)
    failed, started = 0, time.monotonic()
    for i in range(0, len(rows), CEILING_CHUNK):
        answers = execute_concurrent_with_args(
            session,
            insert,
            rows[i : i + CEILING_CHUNK],
            concurrency=CEILING_CONCURRENCY,
            raise_on_first_error=False,
            results_generator=True,
        )
        failed += sum(not success for success, _ in answers)
        say(f"  drain ceiling: {min(i + CEILING_CHUNK, len(rows)):,} of {len(rows):,} rows inserted")
    seconds = time.monotonic() - started
    return {
        "orders": len(rows),
        "failed": failed,
        "seconds": round(seconds, 3),
        "concurrency": CEILING_CONCURRENCY,
        "orders_per_s": (len(rows) - failed) / seconds,
    }


def run(settings: Settings, bench_run: Run) -> dict:
    say("drain: waiting until the Spark job has caught up with the orders topic")
    caught_up = stack.wait_until_job_caught_up(settings, bench_run.product_id("drain-sync"))
    product_id = bench_run.product_id("drain")
    validated = [Order.model_validate(body) for body in orders.bodies(product_id, bench_run.count(ORDERS, minimum=500))]
    records = [order.record() for order in validated]
    states = customer_states(settings)
    rows = [cassandra_row(order, states) for order in validated]
    del validated
    say(f"drain: caught up after {caught_up:.1f} s; stopping the Spark job")
    stack.launcher("down", "spark")
    try:
        say(f"drain: producing {len(records):,} orders straight to {settings.orders_topic}")
        preloaded = preload(settings, records)
        say(f"drain: {len(records):,} orders produced in {preloaded:.1f} s; starting the Spark job")
        started = time.monotonic()
        stack.launcher("up", "spark")
        answered = time.monotonic()
        say(f"drain: the job answers after {answered - started:.1f} s; waiting until MySQL counts every order")
        done = wait_until_counted(settings, product_id, len(records), started)
    finally:
        if not stack.job_running(settings):
            stack.launcher("up", "spark")
    seconds = done - started
    say(
        f"drain: {len(records):,} orders in {seconds:.1f} s from the job's start, {len(records) / seconds:,.0f} "
        "orders/s; checking Cassandra holds every one"
    )
    with stack.cassandra(settings) as session:
        found = found_in_cassandra(session, [row[0] for row in rows])
        if found != len(rows):
            raise HarnessError(
                f"drain: MySQL counts all {len(rows):,} orders of product {product_id}, "
                f"but Cassandra's orders table holds {found:,} of them"
            )
        say(f"drain ceiling: the same {len(rows):,} rows inserted by cassandra-driver, {CEILING_CONCURRENCY} in flight")
        direct = ceiling(session, rows)
    say(f"drain ceiling: {direct['orders_per_s']:,.0f} rows/s ({direct['failed']:,} failed)")
    return {
        "product_id": product_id,
        "orders": len(records),
        "caught_up_s": round(caught_up, 1),
        "preload_s": round(preloaded, 1),
        "job_answering_s": round(answered - started, 1),
        "seconds": round(seconds, 3),
        "orders_per_s": len(records) / seconds,
        "orders_per_s_after_answering": len(records) / (done - answered),
        "cassandra_found": found,
        "ceiling": direct,
        "of_ceiling": len(records) / seconds / direct["orders_per_s"],
    }
