"""Load generator: realistic orders POSTed through the ingest API.

Usage:
  python -m pipeline.simulate --rate 200 --duration 60 --mode batch --batch-size 100
  make simulate RATE=200 DURATION=60 MODE=single        (DURATION=0: until Ctrl-C)

Orders are built with the contract (pipeline.contract.Order), so they cannot
drift from it: Zipf-skewed customers and products, every source and payment
method, a few unknown customers and late events, and --invalid-share of
deliberately broken orders. Requests go out open loop at --rate orders/s
with at most --concurrency in flight. After a 503 (or a refused connection,
or no answer in 30 s) the same body, with the same order_ids, is sent again
after Retry-After (1 s after no answer). The exit code is 1 when a valid order was not accepted, an
invalid one was, or a request got an unexpected status.
"""

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import random
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from uuid import UUID

# aiohttp rather than httpx: httpx's CPU per request capped the generator below the API.
import aiohttp

from pipeline.contract import MAX_QUANTITY, Order, PaymentMethod, Source
from pipeline.settings import Settings, get_settings

# (product_id, unit price); earlier entries are more popular.
PRODUCTS = [
    ("burger_classic", "8.90"),
    ("pizza_margherita", "11.50"),
    ("fries_large", "3.90"),
    ("cola_05l", "2.50"),
    ("chicken_wrap", "7.40"),
    ("caesar_salad", "9.80"),
    ("pizza_pepperoni", "12.90"),
    ("burger_cheese", "9.60"),
    ("iced_tea", "2.90"),
    ("nuggets_9", "5.70"),
    ("veggie_bowl", "10.40"),
    ("sushi_set_12", "18.90"),
    ("ramen_tonkotsu", "13.50"),
    ("pad_thai", "11.90"),
    ("falafel_plate", "9.20"),
    ("lasagne", "12.40"),
    ("tiramisu", "5.90"),
    ("cheesecake", "5.50"),
    ("espresso", "2.20"),
    ("cappuccino", "3.40"),
    ("fish_and_chips", "13.90"),
    ("steak_frites", "24.50"),
    ("tacos_3", "9.90"),
    ("burrito_beef", "10.90"),
    ("poke_salmon", "14.20"),
    ("kebab_plate", "11.20"),
    ("soup_of_the_day", "6.50"),
    ("club_sandwich", "8.70"),
    ("brownie", "3.80"),
    ("lemonade", "3.20"),
    ("pho_bo", "12.70"),
    ("butter_chicken", "13.20"),
    ("mac_and_cheese", "8.20"),
    ("hot_dog", "4.90"),
    ("onion_rings", "4.20"),
    ("milkshake_vanilla", "4.80"),
    ("greek_gyros", "10.60"),
    ("bagel_salmon", "7.90"),
    ("churros", "4.50"),
    ("family_bucket_12", "29.90"),
]
QUANTITIES, QUANTITY_WEIGHTS = [1, 2, 3, 4, 5, 8, 12, 40], [50, 24, 11, 6, 4, 2, 2, 1]
CURRENCIES, CURRENCY_WEIGHTS = ["USD", "EUR", "GBP", "CAD"], [90, 6, 3, 1]

CLIENT_TIMEOUT_S = 30  # a request without an answer by then is retried like a 503

# One way each to break an order; the API must refuse every one of them.
BREAKERS = [
    lambda order, rng: order.pop("customer_id"),
    lambda order, rng: order.update(quantity=rng.choice([0, -1, MAX_QUANTITY + 1])),
    lambda order, rng: order.update(source="Drive Through"),
    lambda order, rng: order.update(coupon="FREE"),
    lambda order, rng: order.update(total="0.01"),
    lambda order, rng: order.update(created_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat()),
    lambda order, rng: order.update(currency="ABC"),
    lambda order, rng: order.update(unit_price="1.999"),
    lambda order, rng: order.update(customer_id=str(order["customer_id"])),
]


def zipf_cumulative(n: int, exponent: float = 1.1) -> list[float]:
    return list(itertools.accumulate(1 / rank**exponent for rank in range(1, n + 1)))


@dataclass(frozen=True)
class Generated:
    body: dict
    valid: bool


class OrderGenerator:
    """Deterministic for a seed, apart from created_at, which follows the clock."""

    def __init__(self, seed: int | None = None, customers: int = 1000, invalid_share: float = 0.02):
        self.rng = random.Random(seed)
        self.customers, self.invalid_share = customers, invalid_share
        self.customer_weights = zipf_cumulative(customers)
        self.product_weights = zipf_cumulative(len(PRODUCTS))

    def valid_order(self) -> dict:
        rng = self.rng
        if rng.random() < 0.01:  # unknown to the customers dimension: counted under state ??
            customer = self.customers + rng.randint(1, 1000)
        else:
            customer = rng.choices(range(1, self.customers + 1), cum_weights=self.customer_weights)[0]
        product, price = rng.choices(PRODUCTS, cum_weights=self.product_weights)[0]
        lag = rng.uniform(30, 90) if rng.random() < 0.01 else rng.uniform(0, 3)  # a few late events
        order = Order(
            order_id=UUID(int=rng.getrandbits(128), version=4),  # from the seeded rng, not uuid4()
            customer_id=customer,
            source=rng.choice(list(Source)),
            product_id=product,
            quantity=rng.choices(QUANTITIES, weights=QUANTITY_WEIGHTS)[0],
            unit_price=Decimal(price),
            currency=rng.choices(CURRENCIES, weights=CURRENCY_WEIGHTS)[0],
            payment_method=None if rng.random() < 0.1 else rng.choice(list(PaymentMethod)),
            created_at=datetime.now(UTC) - timedelta(seconds=lag),
        )
        body = order.model_dump(mode="json", exclude_none=True)
        if rng.random() < 0.5:  # clients may leave the total to the server; when sent, the API checks it
            del body["total"]
        return body

    def next(self) -> Generated:
        body = self.valid_order()
        if self.rng.random() >= self.invalid_share:
            return Generated(body, True)
        self.rng.choice(BREAKERS)(body, self.rng)
        return Generated(body, False)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of values (0 when empty)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] if ordered else 0.0


@dataclass
class Tally:
    seed: int | None = None
    sent_valid: int = 0
    sent_invalid: int = 0
    accepted: int = 0
    accepted_invalid: int = 0
    rejected_invalid: int = 0
    rejected_valid: int = 0
    given_up: int = 0
    retries: int = 0
    network_errors: int = 0
    unexpected: Counter = field(default_factory=Counter)  # status -> orders
    latencies: list[float] = field(default_factory=list)  # seconds, per answered request
    seconds: float = 0.0

    @property
    def sent(self) -> int:
        return self.sent_valid + self.sent_invalid

    @property
    def rejected(self) -> int:
        return self.rejected_invalid + self.rejected_valid

    @property
    def ok(self) -> bool:
        return not (self.rejected_valid or self.accepted_invalid or self.given_up or self.unexpected)

    def summary(self) -> str:
        ms = [1000 * s for s in self.latencies]
        return "\n".join(
            [
                f"sent       {self.sent} orders ({self.sent_valid} valid, {self.sent_invalid} invalid) in "
                f"{self.seconds:.1f} s: {self.sent / max(self.seconds, 1e-9):.1f} orders/s",
                f"accepted   {self.accepted} ({self.accepted_invalid} of them invalid: unexpected)",
                f"rejected   {self.rejected} ({self.rejected_invalid} invalid as intended, "
                f"{self.rejected_valid} valid: unexpected)",
                f"unexpected statuses {dict(self.unexpected) or 'none'}; {self.given_up} orders given up after retries",
                f"retries    {self.retries} ({self.network_errors} network errors)",
                f"latency    ms over {len(ms)} requests: p50 {percentile(ms, 50):.1f} p95 {percentile(ms, 95):.1f} "
                f"p99 {percentile(ms, 99):.1f} max {max(ms, default=0):.1f}",
                f"seed       {self.seed}",
            ]
        )


def retry_after(headers) -> float:
    try:
        return max(0.0, float(headers.get("Retry-After", 1)))
    except ValueError:  # an HTTP date, which this API does not send
        return 1.0


async def send(
    client: aiohttp.ClientSession, path: str, content: bytes, tally: Tally, max_retries: int
) -> tuple[int, Any] | None:
    """POST content until it gets an answer other than 503; (status, JSON or None), or None if given up."""
    wait = 0.0
    for attempt in range(max_retries + 1):
        if attempt:
            tally.retries += 1
            await asyncio.sleep(wait)
        started = time.perf_counter()
        try:
            async with client.post(path, data=content) as response:
                status, text, wait = response.status, await response.text(), retry_after(response.headers)
        except (aiohttp.ClientError, TimeoutError):  # refused, reset, or no answer: retried like a 503
            tally.network_errors += 1
            wait = 1.0
            continue
        tally.latencies.append(time.perf_counter() - started)
        if status != 503:
            with contextlib.suppress(ValueError):
                return status, json.loads(text)
            return status, None  # not JSON, e.g. a proxy's error page
    return None


async def post(
    client: aiohttp.ClientSession,
    items: list[Generated],
    batch: bool,
    tally: Tally,
    max_retries: int,
    accepted_out: IO[str] | None,
) -> None:
    """POST items (as one order or one batch) and tally what became of each."""
    tally.sent_valid += sum(i.valid for i in items)
    tally.sent_invalid += sum(not i.valid for i in items)
    path, payload = ("/orders/batch", [i.body for i in items]) if batch else ("/orders", items[0].body)
    try:  # encoded once, so every retry carries the same order_ids
        outcome = await send(client, path, json.dumps(payload).encode(), tally, max_retries)
    except asyncio.CancelledError:  # a second Ctrl-C
        tally.given_up += len(items)
        raise
    if outcome is None:
        tally.given_up += len(items)
        return
    status, answer = outcome
    if status not in (202, 422) or not isinstance(answer, dict) or (batch and "results" not in answer):
        tally.unexpected[status] += len(items)
        return
    results = {result.get("index"): result for result in answer["results"]} if batch else {0: answer}
    for index, item in enumerate(items):
        result = results.get(index, {})
        if "order_id" not in result:
            tally.rejected_invalid += not item.valid
            tally.rejected_valid += item.valid
            continue
        tally.accepted += 1
        tally.accepted_invalid += not item.valid
        if accepted_out:
            accepted_out.write(
                json.dumps({**item.body, "order_id": result["order_id"], "total": result.get("total")}) + "\n"
            )


async def show_progress(tally: Tally, started: float) -> None:
    """Rewrite one line every second on a terminal; print a line every 5 s into a log."""
    tty = sys.stderr.isatty()
    last_time, last_sent = 0.0, 0
    while True:
        await asyncio.sleep(1 if tty else 5)
        now = time.monotonic() - started
        line = (
            f"{now:6.1f}s sent {tally.sent} accepted {tally.accepted} rejected {tally.rejected} "
            f"retries {tally.retries} ({(tally.sent - last_sent) / (now - last_time):.0f} orders/s)"
        )
        print(f"\r{line}\033[K" if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)
        last_time, last_sent = now, tally.sent


async def stopped(stop: asyncio.Event, delay: float) -> bool:
    """Sleep up to delay seconds, waking early on stop; whether stop is set."""
    if delay > 0 and not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
    return stop.is_set()


def api_session(settings: Settings, concurrency: int, api_url: str | None = None) -> aiohttp.ClientSession:
    """A client of the ingest API: JSON bodies, the first API key, at most `concurrency` requests at once."""
    return aiohttp.ClientSession(
        base_url=api_url or settings.api_url,
        connector=aiohttp.TCPConnector(limit=concurrency),
        headers={"Content-Type": "application/json", "X-API-Key": settings.api_key_list[0]},
        timeout=aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S),
    )


async def run(
    rate: float,
    duration: float,
    mode: str = "batch",
    batch_size: int = 100,
    invalid_share: float = 0.02,
    customers: int = 1000,
    seed: int | None = None,
    concurrency: int = 32,
    max_retries: int = 30,
    accepted_out: Path | None = None,
    progress: bool = True,
    api_url: str | None = None,
) -> Tally:
    """Send orders at rate/s for duration s (0: until Ctrl-C) and return the tally."""
    settings = get_settings()
    seed = random.SystemRandom().randrange(2**32) if seed is None else seed  # printed, so a run can be repeated
    batch = mode == "batch"
    per_request = batch_size if batch else 1
    generator, tally = OrderGenerator(seed, customers, invalid_share), Tally(seed=seed)
    stop, in_flight = asyncio.Event(), asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task[None]] = set()

    def finished(task: asyncio.Task[None]) -> None:
        tasks.discard(task)
        in_flight.release()

    def interrupt() -> None:  # the first Ctrl-C stops sending; a second one abandons the requests in flight
        if stop.is_set():
            for task in tasks:
                task.cancel()
        elif tasks:
            print("\nstopping: waiting for the requests in flight (Ctrl-C again abandons them)", file=sys.stderr)
        stop.set()

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, interrupt)
    try:
        with open(accepted_out, "w") if accepted_out else contextlib.nullcontext() as out:
            async with api_session(settings, concurrency, api_url) as client:
                started = time.monotonic()
                reporter = asyncio.create_task(show_progress(tally, started)) if progress else None
                for n in itertools.count():
                    due = n * per_request / rate  # open loop: the schedule does not wait for answers
                    if (duration and due >= duration) or await stopped(stop, due - (time.monotonic() - started)):
                        break
                    await in_flight.acquire()  # bounded: when the API falls behind, the schedule slips
                    orders = [generator.next() for _ in range(per_request)]
                    tasks.add(task := asyncio.create_task(post(client, orders, batch, tally, max_retries, out)))
                    task.add_done_callback(finished)
                for failure in await asyncio.gather(*tasks, return_exceptions=True):
                    if isinstance(failure, Exception):  # a bug, not a network problem (those are tallied)
                        raise failure
                tally.seconds = time.monotonic() - started
                if reporter:
                    reporter.cancel()
                    if sys.stderr.isatty():  # keep the last progress line; the summary starts below it
                        print(file=sys.stderr)
    finally:
        loop.remove_signal_handler(signal.SIGINT)
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.simulate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200, help="orders per second (default 200)")
    parser.add_argument("--duration", type=float, default=60, help="seconds; 0 = until Ctrl-C (default 60)")
    parser.add_argument("--mode", choices=["batch", "single"], default="batch", help="POST /orders/batch or /orders")
    parser.add_argument("--batch-size", type=int, default=100, help="orders per batch request (default 100)")
    parser.add_argument("--invalid-share", type=float, default=0.02, help="share of broken orders (default 0.02)")
    parser.add_argument("--customers", type=int, default=1000, help="known customer ids 1..N (default 1000)")
    parser.add_argument("--seed", type=int, help="repeat a run's orders and order_ids (default: random, printed)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight at most (default 32)")
    parser.add_argument("--max-retries", type=int, default=30, help="per request, after 503 or no connection")
    parser.add_argument("--accepted-out", type=Path, help="write each accepted order as a JSON line")
    args = parser.parse_args(argv)
    limit = get_settings().max_batch_orders
    if args.rate <= 0 or args.concurrency < 1 or args.customers < 1 or not 0 <= args.invalid_share <= 1:
        parser.error("--rate, --concurrency and --customers must be positive and --invalid-share within 0..1")
    if args.mode == "batch" and not 1 <= args.batch_size <= limit:
        parser.error(f"--batch-size must be within 1..{limit} (MAX_BATCH_ORDERS)")
    tally = asyncio.run(
        run(
            args.rate,
            args.duration,
            args.mode,
            args.batch_size,
            args.invalid_share,
            args.customers,
            args.seed,
            args.concurrency,
            args.max_retries,
            args.accepted_out,
        )
    )
    print(tally.summary())
    return 0 if tally.ok else 1


if __name__ == "__main__":
    sys.exit(main())
