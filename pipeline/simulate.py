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
after Retry-After. The exit code is 1 when a valid order was not accepted, an invalid one was,
or a request got an unexpected status.
"""
import argparse
import asyncio
import json
import math
import random
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from itertools import accumulate
from uuid import UUID

import aiohttp

from pipeline.contract import MAX_QUANTITY, Order, PaymentMethod, Source
from pipeline.settings import get_settings

# (product_id, unit price); earlier entries are more popular.
PRODUCTS = [
    ("burger_classic", "8.90"), ("pizza_margherita", "11.50"), ("fries_large", "3.90"), ("cola_05l", "2.50"),
    ("chicken_wrap", "7.40"), ("caesar_salad", "9.80"), ("pizza_pepperoni", "12.90"), ("burger_cheese", "9.60"),
    ("iced_tea", "2.90"), ("nuggets_9", "5.70"), ("veggie_bowl", "10.40"), ("sushi_set_12", "18.90"),
    ("ramen_tonkotsu", "13.50"), ("pad_thai", "11.90"), ("falafel_plate", "9.20"), ("lasagne", "12.40"),
    ("tiramisu", "5.90"), ("cheesecake", "5.50"), ("espresso", "2.20"), ("cappuccino", "3.40"),
    ("fish_and_chips", "13.90"), ("steak_frites", "24.50"), ("tacos_3", "9.90"), ("burrito_beef", "10.90"),
    ("poke_salmon", "14.20"), ("kebab_plate", "11.20"), ("soup_of_the_day", "6.50"), ("club_sandwich", "8.70"),
    ("brownie", "3.80"), ("lemonade", "3.20"),
]
QUANTITIES, QUANTITY_WEIGHTS = [1, 2, 3, 4, 5, 8, 12, 40], [50, 24, 11, 6, 4, 2, 2, 1]
CURRENCIES, CURRENCY_WEIGHTS = ["USD", "EUR", "GBP", "CAD"], [90, 6, 3, 1]

# One way each to break an order; the API must refuse every one of them.
BREAKERS = [
    lambda order, rng: order.pop("customer_id"),
    lambda order, rng: order.update(quantity=rng.choice([0, -1, MAX_QUANTITY + 1])),
    lambda order, rng: order.update(source="Drive Through"),
    lambda order, rng: order.update(coupon="FREE"),
    lambda order, rng: order.update(total="0.01"),
    lambda order, rng: order.update(created_at=(datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()),
    lambda order, rng: order.update(currency="ABC"),
    lambda order, rng: order.update(unit_price="1.999"),
    lambda order, rng: order.update(customer_id=str(order["customer_id"])),
]


def zipf_cumulative(n: int, exponent: float = 1.1) -> list[float]:
    return list(accumulate(1 / rank**exponent for rank in range(1, n + 1)))


@dataclass
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
            order_id=UUID(int=rng.getrandbits(128), version=4),
            customer_id=customer,
            source=rng.choice(list(Source)),
            product_id=product,
            quantity=rng.choices(QUANTITIES, weights=QUANTITY_WEIGHTS)[0],
            unit_price=Decimal(price),
            currency=rng.choices(CURRENCIES, weights=CURRENCY_WEIGHTS)[0],
            payment_method=None if rng.random() < 0.1 else rng.choice(list(PaymentMethod)),
            created_at=datetime.now(timezone.utc) - timedelta(seconds=lag),
        )
        body = order.model_dump(mode="json", exclude_none=True)
        if rng.random() < 0.5:  # clients may leave the total to the server
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
    sent: int = 0
    accepted: int = 0
    rejected_invalid: int = 0
    rejected_valid: int = 0
    accepted_invalid: int = 0
    given_up: int = 0
    retries: int = 0
    unexpected: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.rejected_valid or self.accepted_invalid or self.given_up or self.unexpected)

    def progress(self) -> str:
        rate = self.sent / self.seconds if self.seconds else 0
        return (f"{self.seconds:6.1f}s sent {self.sent} accepted {self.accepted} "
                f"rejected {self.rejected_invalid + self.rejected_valid} retries {self.retries} ({rate:.0f} orders/s)")

    def summary(self) -> str:
        ms = [1000 * s for s in self.latencies]
        return "\n".join([
            f"sent {self.sent} orders in {self.seconds:.1f}s ({self.sent / max(self.seconds, 1e-9):.0f} orders/s)",
            f"accepted {self.accepted}; rejected {self.rejected_invalid} invalid as intended",
            f"unexpected: {self.rejected_valid} valid rejected, {self.accepted_invalid} invalid accepted, "
            f"{self.given_up} given up after retries, statuses {dict(self.unexpected) or 'none'}",
            f"retries {self.retries}; requests {len(ms)}; latency ms p50 {percentile(ms, 50):.1f} "
            f"p95 {percentile(ms, 95):.1f} p99 {percentile(ms, 99):.1f} max {max(ms, default=0):.1f}",
        ])


async def post(client: aiohttp.ClientSession, items: list[Generated], batch: bool, tally: Tally,
               max_retries: int, accepted_out) -> None:
    """POST items (as one order or one batch), retrying 503s with the same body; tally the outcome."""
    path, payload = ("/orders/batch", [i.body for i in items]) if batch else ("/orders", items[0].body)
    content = json.dumps(payload).encode()
    tally.sent += len(items)
    for _ in range(max_retries + 1):
        started = time.perf_counter()
        try:
            async with client.post(path, data=content) as response:
                status, answer = response.status, await response.json(content_type=None)
                wait = float(response.headers.get("Retry-After", 1))
        except (aiohttp.ClientConnectionError, TimeoutError):
            wait = 1.0
        else:
            tally.latencies.append(time.perf_counter() - started)
            if status != 503:
                break
        tally.retries += 1
        await asyncio.sleep(wait)
    else:
        tally.given_up += len(items)
        return
    if status not in (202, 422) or (status == 422 and batch and "results" not in answer):
        tally.unexpected[status] += len(items)
        return
    results = answer["results"] if batch else [answer if status == 202 else {}]
    for item, result in zip(items, results):
        if "order_id" in result:
            tally.accepted += item.valid
            tally.accepted_invalid += not item.valid
            if accepted_out and item.valid:
                accepted_out.write(json.dumps({**item.body, **result}) + "\n")
        else:
            tally.rejected_invalid += not item.valid
            tally.rejected_valid += item.valid


async def run(rate: float, duration: float, batch_size: int, mode: str = "batch", invalid_share: float = 0.02,
              customers: int = 1000, seed: int | None = None, concurrency: int = 32, max_retries: int = 30,
              accepted_out=None, show_progress: bool = True) -> Tally:
    settings = get_settings()
    keys = settings.api_key_list
    batch = mode == "batch"
    per_request = batch_size if batch else 1
    generator, tally = OrderGenerator(seed, customers, invalid_share), Tally()
    stop, in_flight, tasks = asyncio.Event(), asyncio.Semaphore(concurrency), set()
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
    tty, last_report = sys.stderr.isatty(), 0.0
    async with aiohttp.ClientSession(
        base_url=settings.api_url, connector=aiohttp.TCPConnector(limit=concurrency),
        headers={"Content-Type": "application/json", **({"X-API-Key": keys[0]} if keys else {})},
        timeout=aiohttp.ClientTimeout(total=30),
    ) as client:
        started = time.monotonic()
        for n in range(sys.maxsize):
            now = time.monotonic() - started
            if stop.is_set() or (duration and now >= duration):
                break
            await asyncio.sleep(max(0.0, n * per_request / rate - now))
            await in_flight.acquire()  # when the API falls behind, the schedule slips instead of piling up
            task = asyncio.create_task(post(client, [generator.next() for _ in range(per_request)], batch,
                                            tally, max_retries, accepted_out))
            tasks.add(task)
            task.add_done_callback(lambda done: (tasks.discard(done), in_flight.release()))
            tally.seconds = time.monotonic() - started
            if show_progress and tally.seconds - last_report >= (1 if tty else 5):
                print(("\r" if tty else "") + tally.progress(), end="" if tty else "\n", file=sys.stderr, flush=True)
                last_report = tally.seconds
        await asyncio.gather(*tasks)
        tally.seconds = time.monotonic() - started
    if show_progress and tty:
        print(file=sys.stderr)
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.simulate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200, help="orders per second (default 200)")
    parser.add_argument("--duration", type=float, default=60, help="seconds; 0 = until Ctrl-C (default 60)")
    parser.add_argument("--mode", choices=["batch", "single"], default="batch")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--invalid-share", type=float, default=0.02, help="share of broken orders (default 0.02)")
    parser.add_argument("--customers", type=int, default=1000, help="known customer ids 1..N (default 1000)")
    parser.add_argument("--seed", type=int, help="repeatable orders (created_at still follows the clock)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight at most (default 32)")
    parser.add_argument("--max-retries", type=int, default=30, help="per request, after 503 or no connection")
    parser.add_argument("--accepted-out", type=argparse.FileType("w"), help="write each accepted order as a JSON line")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.batch_size < 1 or args.concurrency < 1 or not 0 <= args.invalid_share <= 1:
        parser.error("--rate, --batch-size and --concurrency must be positive and --invalid-share within 0..1")
    tally = asyncio.run(run(args.rate, args.duration, args.batch_size, args.mode, args.invalid_share, args.customers,
                            args.seed, args.concurrency, args.max_retries, args.accepted_out))
    print(tally.summary())
    return 0 if tally.ok else 1


if __name__ == "__main__":
    sys.exit(main())
