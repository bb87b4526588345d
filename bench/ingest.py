"""Ingest: orders/s and latency through the API, and the same producer straight to Kafka as the ceiling.

Usage:
    python -m bench --only ingest               # about 2 minutes
    python -m bench --only ingest --scale 0.1   # a tenth of the orders and durations

Four steps, each with its own orders (product_id bench-ingest-<run id>), after
30 s of single orders at 500/s that warm the API and the broker and are not counted:

    single, open loop     POST /orders at 500 orders/s for 20 s
    single, closed loop   POST /orders from 64 connections for 15 s, sent by wrk
    batch, open loop      POST /orders/batch, 500 orders each, at 10 000 orders/s for 15 s
    batch, closed loop    300 000 orders in batches of 500, 8 requests in flight

A closed loop sends a connection's next request when the last one is answered:
its orders/s is the API's capacity. An open loop sends on a fixed schedule;
latency is timed from each request's scheduled start, so an API that stalls
shows in the percentiles instead of quietly slowing the schedule (coordinated
omission). An order counts once a 202 accepted it; anything else is an error,
reported and never retried. The single-order closed loop is sent by wrk (from
Debian), one order with a fresh order_id a request: this Python harness spends
about as much CPU on a small request as the API does, and on two cores that
capped the loop below the API's capacity.

The Spark job is stopped for this phase and started again at its end: the
phase measures the API and the producer beside it, not how they share the two
cores with the job. The job then catches up before the next phase.

The ceiling is the first 100 000 of the batch closed loop's orders, as the
API produces them (Order.record()), sent by a producer with the API's own
librdkafka settings (acks=all) straight to the orders topic: all produced,
then flushed. The stream, started again, takes them as client retries of
those orders: Cassandra rewrites the same rows, and MySQL drops them as
repeats, so counts of the ingest product are not checked downstream.
"""

import asyncio
import json
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field, replace

import aiohttp

from bench import HarnessError, orders, stack
from bench.orders import Run
from bench.report import Every, distribution, say
from pipeline.settings import Settings
from pipeline.simulate import api_session


@dataclass(frozen=True)
class Step:
    name: str
    label: str
    path: str
    per_request: int  # orders in a request
    connections: int  # requests in flight at most
    orders: int = 0  # closed loop: orders at scale 1
    rate: float = 0.0  # open loop: orders/s
    seconds: float = 0.0  # open loop, or a closed loop sent by wrk: duration at scale 1
    wrk: bool = False  # sent by wrk, for `seconds`

    def count(self, run: Run) -> int:
        """Orders the step sends at the run's scale: whole requests, at least one round of connections."""
        if self.rate:
            requests = max(1, round(self.rate * run.seconds(self.seconds, minimum=1.0) / self.per_request))
            return requests * self.per_request
        return run.count(self.orders, minimum=self.connections * self.per_request)


# Run in this order; the ceiling then sends the batch closed loop's orders again.
STEPS = [
    Step("single_open_loop", "single, open loop", "/orders", 1, connections=256, rate=500, seconds=20),
    Step("single_closed_loop", "single, closed loop", "/orders", 1, connections=64, seconds=15, wrk=True),
    Step("batch_open_loop", "batch, open loop", "/orders/batch", 500, connections=64, rate=10_000, seconds=15),
    Step("batch_closed_loop", "batch, closed loop", "/orders/batch", 500, connections=8, orders=300_000),
]
CEILING_SOURCE = "batch_closed_loop"
# Sent first and not counted: a broker just started compiles its produce path for
# about a minute, which inflated the open loop's p99 on a fresh `make up`
# (docs/performance.md).
WARM_UP = replace(STEPS[0], name="warm_up", label="warm-up", seconds=30)
# Orders the ceiling sends, at scale 1: a second of librdkafka's pace, and fewer
# repeats for the Spark job to work through before the next phase.
CEILING_ORDERS = 100_000
WRK = "wrk"
# wrk's script: every request one order, `template` with a new random order_id; done()
# prints the counts and the latency percentiles (in µs) as one JSON line.
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = [==[%(key)s]==]
local template = [==[%(template)s]==]
math.randomseed(os.time())
local function hex(bits) return string.format("%%0" .. bits / 4 .. "x", math.random(0, 2 ^ bits - 1)) end
function request()
  local id = hex(16) .. hex(16) .. "-" .. hex(16) .. "-4" .. hex(12) .. "-"
             .. string.format("%%x", 8 + math.random(0, 3)) .. hex(12) .. "-" .. hex(16) .. hex(16) .. hex(16)
  return wrk.format(nil, nil, nil, string.format(template, id))
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %%d, "duration_us": %%d, "refused": %%d, "socket_errors": %%d, '
    .. '"p50": %%d, "p95": %%d, "p99": %%d, "max": %%d}\\n', summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max))
end
"""


@dataclass
class Tally:
    orders: int
    accepted: int = 0
    requests: int = 0
    errors: Counter = field(default_factory=Counter)  # what went wrong -> orders it concerned
    latencies: list[float] = field(default_factory=list)  # seconds, per answered request
    seconds: float = 0.0

    @property
    def answered(self) -> int:
        return self.accepted + sum(self.errors.values())


async def post(client: aiohttp.ClientSession, path: str, body: bytes, size: int, began: float, tally: Tally) -> None:
    """POST one request of size orders; its latency counts from `began` (the scheduled start in an open loop)."""
    tally.requests += 1
    try:
        async with client.post(path, data=body) as response:
            status, answer = response.status, await response.read()
    except (aiohttp.ClientError, TimeoutError) as error:
        tally.errors[type(error).__name__] += size
        return
    tally.latencies.append(time.perf_counter() - began)
    if status != 202:
        tally.errors[f"HTTP {status}"] += size
        return
    accepted = json.loads(answer)["accepted"] if path.endswith("/batch") else 1
    tally.accepted += accepted
    if accepted < size:
        tally.errors["refused within a 202 batch"] += size - accepted


async def closed_loop(
    client: aiohttp.ClientSession, step: Step, payloads: list[tuple[bytes, int]], tally: Tally
) -> None:
    remaining = iter(payloads)  # shared: each connection takes the next request as soon as it is free

    async def connection() -> None:
        for body, size in remaining:
            await post(client, step.path, body, size, time.perf_counter(), tally)

    await asyncio.gather(*(connection() for _ in range(step.connections)))


async def open_loop(client: aiohttp.ClientSession, step: Step, payloads: list[tuple[bytes, int]], tally: Tally) -> None:
    interval = step.per_request / step.rate
    started, in_flight = time.perf_counter(), []
    for n, (body, size) in enumerate(payloads):
        due = started + n * interval
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        in_flight.append(asyncio.create_task(post(client, step.path, body, size, due, tally)))
    await asyncio.gather(*in_flight)


async def show_progress(step: Step, tally: Tally) -> None:
    started, tick = time.monotonic(), Every(5)
    while True:
        await asyncio.sleep(0.5)
        if tick():
            seconds = time.monotonic() - started
            say(
                f"  {step.label}: {seconds:.0f} s, {tally.answered:,} of {tally.orders:,} orders answered "
                f"({tally.answered / seconds:,.0f}/s)"
            )


async def send(settings: Settings, step: Step, payloads: list[tuple[bytes, int]]) -> Tally:
    tally = Tally(orders=sum(size for _, size in payloads))
    async with api_session(settings, step.connections) as client:
        progress = asyncio.create_task(show_progress(step, tally))
        started = time.perf_counter()
        await (open_loop if step.rate else closed_loop)(client, step, payloads, tally)
        tally.seconds = time.perf_counter() - started
        progress.cancel()
    return tally


def wrk_closed_loop(settings: Settings, step: Step, body: dict, seconds: float) -> dict:
    """The step sent by wrk for `seconds`, one connection per in-flight request, `body` with fresh order_ids."""
    if shutil.which(WRK) is None:
        raise HarnessError("wrk is not installed: `make bench` installs it from Debian (package wrk)")
    template = json.dumps({**body, "order_id": "@ORDER_ID@"}).replace("%", "%%").replace("@ORDER_ID@", "%s")
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_SCRIPT % {"key": settings.api_key_list[0], "template": template})
        script.flush()
        done = subprocess.run(
            [
                WRK,
                "--threads",
                "1",
                "--connections",
                str(step.connections),
                "--duration",
                f"{seconds:.0f}s",
                "--timeout",
                "30s",
                "--script",
                script.name,
                f"{settings.api_url}{step.path}",
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
    if done.returncode:
        raise HarnessError(f"ingest {step.label}: wrk failed: {done.stderr.strip() or done.stdout.strip()}")
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    answered, elapsed = counts["requests"], counts["duration_us"] / 1e6
    errors = {
        name: counts[key]
        for name, key in (("HTTP 4xx/5xx", "refused"), ("socket errors", "socket_errors"))
        if counts[key]
    }
    accepted = answered - counts["refused"]
    return {
        "path": step.path,
        "per_request": 1,
        "connections": step.connections,
        "rate": None,
        "client": "wrk",
        "orders": answered + counts["socket_errors"],
        "accepted": accepted,
        "requests": answered,
        "errors": errors,
        "seconds": round(elapsed, 3),
        "orders_per_s": accepted / elapsed,
        "latency_ms": {name: counts[name] / 1000 for name in ("p50", "p95", "p99", "max")},
    }


def step_result(step: Step, tally: Tally) -> dict:
    return {
        "path": step.path,
        "per_request": step.per_request,
        "connections": step.connections,
        "rate": step.rate or None,
        "client": "aiohttp",
        "orders": tally.orders,
        "accepted": tally.accepted,
        "requests": tally.requests,
        "errors": dict(tally.errors),
        "seconds": round(tally.seconds, 3),
        "orders_per_s": tally.accepted / tally.seconds,
        "latency_ms": {name: 1000 * value for name, value in distribution(tally.latencies).items()},
    }


def ceiling(settings: Settings, records: list[tuple[bytes, bytes]]) -> dict:
    """The records produced straight to Kafka, closed loop (all produced, then flushed); acknowledged orders/s."""
    producer = stack.kafka_producer(settings)
    # The API's producer is long connected: this one connects with the first record, before the clock starts.
    first, rest = records[:1], records[1:]
    stack.produce_all(producer, settings.orders_topic, first)
    started = time.perf_counter()
    failed = stack.produce_all(producer, settings.orders_topic, rest)
    seconds = time.perf_counter() - started
    if failed == len(rest):
        raise HarnessError(f"ingest ceiling: Kafka acknowledged none of {len(rest):,} records")
    return {
        "orders": len(rest),
        "failed": failed,
        "seconds": round(seconds, 3),
        "orders_per_s": (len(rest) - failed) / seconds,
    }


def run(settings: Settings, bench_run: Run) -> dict:
    say("ingest: stopping the Spark job for this phase (it catches up afterwards)")
    stack.launcher("down", "spark")
    try:
        return measure(settings, bench_run)
    finally:
        say("ingest: starting the Spark job again")
        stack.launcher("up", "spark")


def measure(settings: Settings, bench_run: Run) -> dict:
    product_id = bench_run.product_id("ingest")
    steps, ceiling_bodies = {}, []
    warm_up = WARM_UP.count(bench_run)
    say(f"ingest {WARM_UP.label}: {warm_up:,} orders to {WARM_UP.path} at {WARM_UP.rate:,.0f} orders/s, not counted")
    asyncio.run(send(settings, WARM_UP, orders.requests(orders.bodies(product_id, warm_up), 1)))
    for step in STEPS:
        if step.wrk:
            seconds = bench_run.seconds(step.seconds, minimum=2.0)
            say(f"ingest {step.label}: {step.path} for {seconds:.0f} s from {step.connections} connections (wrk)")
            steps[step.name] = result = wrk_closed_loop(settings, step, orders.bodies(product_id, 1)[0], seconds)
        else:
            bodies = orders.bodies(product_id, step.count(bench_run))
            payloads = orders.requests(bodies, step.per_request)
            how = f"at {step.rate:,.0f} orders/s" if step.rate else "closed loop"
            say(
                f"ingest {step.label}: {len(bodies):,} orders in {len(payloads):,} requests to {step.path}, {how}, "
                f"at most {step.connections} in flight"
            )
            tally = asyncio.run(send(settings, step, payloads))
            steps[step.name] = result = step_result(step, tally)
            if step.name == CEILING_SOURCE:
                ceiling_bodies = bodies
        errors = f"; errors {result['errors']}" if result["errors"] else ""
        say(
            f"ingest {step.label}: {result['accepted']:,} of {result['orders']:,} accepted "
            f"in {result['seconds']:.1f} s, "
            f"{result['orders_per_s']:,.0f} orders/s, p99 {result['latency_ms']['p99']:.1f} ms{errors}"
        )
    records = orders.records(ceiling_bodies[: bench_run.count(CEILING_ORDERS, minimum=1_000)])
    say(f"ingest ceiling: {len(records):,} of those orders' records straight to Kafka with the API's producer settings")
    direct = ceiling(settings, records)
    say(f"ingest ceiling: {direct['orders_per_s']:,.0f} orders/s acknowledged ({direct['failed']:,} failed)")
    return {
        "product_id": product_id,
        "steps": steps,
        "ceiling": direct,
        "single_of_ceiling": steps["single_closed_loop"]["orders_per_s"] / direct["orders_per_s"],
        "batch_of_ceiling": steps["batch_closed_loop"]["orders_per_s"] / direct["orders_per_s"],
    }
