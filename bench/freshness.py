"""Freshness: how long after the API's 202 an order can be read in Cassandra and is counted in MySQL.

Usage:
    python -m bench --only freshness
    python -m bench --only freshness --scale 0.1   # 6 s of orders instead of 60

First waits until the Spark job has caught up with the orders topic (the
ingest phase leaves it a backlog), then sends 500 orders/s through
POST /orders/batch, 10 orders a request on a fixed schedule: for
WATERMARK_DELAY uncounted, so that the dedup state the backlog left has
expired and the job runs as it does at this rate (just after 600 000 orders
its batches took twice as long), then for 60 s noting when each order's 202
arrived (wall clock, time.time()). Meanwhile two threads poll every 100 ms:

(a) Cassandra: one order in 50 is looked up in `orders` by order_id (a prepared
    `SELECT order_id FROM orders WHERE order_id IN ?`, 100 ids a query) until
    found; its delay runs from its 202 to the answer that found it. Few enough
    that the lookups do not load Cassandra: at one in 5 they read ~8 000
    partitions a second, eight times what the job writes, and the bench's own
    load made the delays it measured.
(b) MySQL: the SUM(orders) of this run's product in `product_sales_by_minute`.
    The k-th order by 202 time counts as visible at the first read that counts
    k or more. That assumes the stream commits orders in the order they
    arrived, a micro-batch at a time, which holds because each micro-batch
    reads every partition up to its latest offset (MAX_OFFSETS_PER_TRIGGER is
    far above 500 orders/s times a batch's duration).

Delays are reported as p50, p95 and max. An accepted order still not found
120 s after the last request fails the benchmark (exit 1): the pipeline lost it.
"""

import asyncio
import json
import queue
import threading
import time
from collections import Counter
from typing import Any
from uuid import UUID

import aiohttp
import pandas as pd
from cassandra.concurrent import execute_concurrent_with_args

from bench import HarnessError, orders, stack
from bench.orders import Run
from bench.report import Every, distribution, say
from pipeline.settings import Settings
from pipeline.simulate import api_session

RATE = 500  # orders/s
PER_REQUEST = 10
SECONDS = 60  # of sending, at scale 1
SAMPLE_EVERY = 50  # one order in this many is looked up in Cassandra
POLL_S = 0.1
IDS_PER_QUERY = 100
TIMEOUT_S = 120.0  # after the last request


class Poller:
    """Calls poll() every POLL_S on its own thread, from start() until stop()."""

    def __init__(self):
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.loop, name=type(self).__name__, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()

    def loop(self) -> None:
        while not self.stopped.wait(POLL_S):
            self.poll()

    def poll(self) -> None:
        raise NotImplementedError


class CassandraWatch(Poller):
    """Looks up accepted sample orders by order_id until each is found; the delay of each from its 202."""

    def __init__(self, session):
        super().__init__()
        self.session = session
        self.select = session.prepare("SELECT order_id FROM orders WHERE order_id IN ?")
        self.accepted: queue.SimpleQueue = queue.SimpleQueue()  # (order_id, 202 time) from the sender
        self.pending: dict[UUID, float] = {}
        self.delays: list[float] = []

    def missing(self) -> int:
        return len(self.pending) + self.accepted.qsize()

    def poll(self) -> None:
        while not self.accepted.empty():
            order_id, acked_at = self.accepted.get()
            self.pending[order_id] = acked_at
        ids = list(self.pending)
        chunks = [(ids[i : i + IDS_PER_QUERY],) for i in range(0, len(ids), IDS_PER_QUERY)]
        answers = execute_concurrent_with_args(
            self.session, self.select, chunks, concurrency=8, raise_on_first_error=False
        )
        found_at = time.time()
        for success, rows in answers:
            if success:  # a failed query is simply asked again at the next poll
                self.delays += [found_at - self.pending.pop(row.order_id) for row in rows]


class MySQLWatch(Poller):
    """Reads how many orders of product_id MySQL counts; keeps (time, count) at every change."""

    def __init__(self, settings: Settings, product_id: str):
        super().__init__()
        self.connection, self.product_id = stack.mysql(settings), product_id
        self.counts: list[tuple[float, int]] = []

    def counted(self) -> int:
        return self.counts[-1][1] if self.counts else 0

    def poll(self) -> None:
        count = stack.product_orders(self.connection, self.product_id)
        if count != self.counted():
            self.counts.append((time.time(), count))

    def stop(self) -> None:
        super().stop()
        self.connection.close()


def seconds(interval: str) -> float:
    """A Spark interval as the settings write it ("2 minutes", "30 seconds") in seconds; pandas reads the same words."""
    return pd.Timedelta(interval).total_seconds()


def visible_delays(acked: list[float], counts: list[tuple[float, int]]) -> list[float]:
    """Each order's delay from its 202 to the first (time, count) whose count includes it.

    Orders are taken in 202 order: the k-th is visible once the count reaches
    k. An order the count never reaches gets no delay. A commit that reached
    MySQL before the 202 got back to the client counts as no delay.
    """
    delays, reached = [], 0
    for k, acked_at in enumerate(sorted(acked), start=1):
        while reached < len(counts) and counts[reached][1] < k:
            reached += 1
        if reached == len(counts):
            break
        delays.append(max(0.0, counts[reached][0] - acked_at))
    return delays


def at_rate(bench_run: Run, product_id: str, full_seconds: float, minimum: float) -> list[dict]:
    """Orders of product_id for full_seconds at RATE (scaled, at least `minimum` seconds)."""
    return orders.bodies(product_id, max(PER_REQUEST, round(RATE * bench_run.seconds(full_seconds, minimum))))


async def send(
    settings: Settings, bodies: list[dict], acked: list[float], errors: Counter, cassandra: CassandraWatch | None = None
) -> None:
    """POST bodies in requests of PER_REQUEST at RATE orders/s; note each accepted order's 202 time."""
    sampled = {body["order_id"] for body in bodies[::SAMPLE_EVERY]} if cassandra else set()

    async def post(body: bytes, size: int) -> None:
        try:
            async with client.post("/orders/batch", data=body) as response:
                status, answer = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            errors[type(error).__name__] += size
            return
        acked_at = time.time()
        if status != 202:
            errors[f"HTTP {status}"] += size
            return
        for result in json.loads(answer)["results"]:
            if "order_id" not in result:
                errors["refused within a 202 batch"] += 1
                continue
            acked.append(acked_at)
            if cassandra and result["order_id"] in sampled:
                cassandra.accepted.put((UUID(result["order_id"]), acked_at))

    async with api_session(settings, 64) as client:
        in_flight, tick = [], Every(5)
        started = time.perf_counter()
        for n, (body, size) in enumerate(orders.requests(bodies, PER_REQUEST)):
            await asyncio.sleep(max(0.0, started + n * PER_REQUEST / RATE - time.perf_counter()))
            in_flight.append(asyncio.create_task(post(body, size)))
            if tick():
                found = f", {len(cassandra.delays):,} sampled found in Cassandra" if cassandra else ""
                say(f"  freshness: {time.perf_counter() - started:.0f} s, {len(acked):,} orders accepted{found}")
        await asyncio.gather(*in_flight)


def run(settings: Settings, bench_run: Run) -> dict:
    say("freshness: waiting until the Spark job has caught up with the orders topic")
    caught_up = stack.wait_until_job_caught_up(settings, bench_run.product_id("freshness-sync"))
    say(f"freshness: caught up after {caught_up:.1f} s")

    product_id = bench_run.product_id("freshness")
    bodies = at_rate(bench_run, product_id, SECONDS, minimum=2.0)
    settle = at_rate(bench_run, bench_run.product_id("freshness-settle"), seconds(settings.watermark_delay), 1.0)
    say(f"freshness: {len(settle):,} orders at {RATE} orders/s, not counted: the job settles at this rate")
    asyncio.run(send(settings, settle, [], Counter()))
    acked: list[float] = []
    errors: Counter[str] = Counter()
    with stack.cassandra(settings) as session:
        cassandra, mysql = CassandraWatch(session), MySQLWatch(settings, product_id)
        cassandra.start()
        mysql.start()
        try:
            say(
                f"freshness: {len(bodies):,} orders at {RATE} orders/s, {PER_REQUEST} a request, "
                f"1 in {SAMPLE_EVERY} looked up in Cassandra"
            )
            started = time.monotonic()
            asyncio.run(send(settings, bodies, acked, errors, cassandra))
            sending = time.monotonic() - started
            say(
                f"freshness: {len(acked):,} of {len(bodies):,} accepted in {sending:.1f} s"
                + (f"; errors {dict(errors)}" if errors else "")
                + "; waiting for the last ones downstream"
            )
            tick = Every(5)
            deadline = time.monotonic() + TIMEOUT_S
            while (cassandra.missing() or mysql.counted() < len(acked)) and time.monotonic() < deadline:
                stack.require_job(settings, "the freshness orders")
                time.sleep(POLL_S)
                if tick():
                    say(
                        f"  freshness: {cassandra.missing():,} sampled orders not yet in Cassandra, "
                        f"{len(acked) - mysql.counted():,} not yet counted in MySQL"
                    )
        finally:
            cassandra.stop()
            mysql.stop()
    sampled = len(cassandra.delays) + cassandra.missing()
    if cassandra.missing() or mysql.counted() != len(acked):
        raise HarnessError(
            f"freshness: {TIMEOUT_S:.0f} s after the last request, {cassandra.missing():,} of {sampled:,} sampled "
            f"accepted orders were not in Cassandra and MySQL counted {mysql.counted():,} of the {len(acked):,} "
            f"accepted orders of product {product_id}"
        )
    mysql_delays = visible_delays(acked, mysql.counts)
    result: dict[str, Any] = {
        "product_id": product_id,
        "rate": RATE,
        "per_request": PER_REQUEST,
        "orders": len(bodies),
        "accepted": len(acked),
        "errors": dict(errors),
        "seconds": round(sending, 3),
        "caught_up_s": round(caught_up, 1),
        "cassandra": {"orders": sampled, "found": len(cassandra.delays), "delay_s": distribution(cassandra.delays)},
        "mysql": {"orders": len(acked), "counted": mysql.counted(), "delay_s": distribution(mysql_delays)},
    }
    for store in ("cassandra", "mysql"):
        delay = result[store]["delay_s"]
        say(f"freshness into {store}: p50 {delay['p50']:.2f} s, p95 {delay['p95']:.2f} s, max {delay['max']:.2f} s")
    return result
