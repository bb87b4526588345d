"""The benchmark's orders: valid orders from the load generator, tagged by phase and run.

Every phase gives its orders the product_id `bench-<phase>-<run id>`, so
MySQL's `product_sales_by_minute` counts exactly that phase's orders of this
run. Orders are built and encoded before any clock starts.
"""

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from pipeline.contract import Order
from pipeline.simulate import OrderGenerator

# The generator validates each order it builds (~85 µs): half a million would take
# a minute, so a pool of distinct orders is repeated, each copy with its own order_id.
POOL_SIZE = 5_000


@dataclass(frozen=True)
class Run:
    """One benchmark run: its id (in product ids and the results file's name) and its scale."""

    run_id: str
    scale: float

    @classmethod
    def starting_now(cls, scale: float) -> "Run":
        return cls(datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"), scale)

    def count(self, full: int, minimum: int) -> int:
        """A count of the full-size run, scaled, never below minimum."""
        return max(minimum, round(full * self.scale))

    def seconds(self, full: float, minimum: float) -> float:
        return max(minimum, full * self.scale)

    def product_id(self, phase: str) -> str:
        return f"bench-{phase}-{self.run_id}"


def bodies(product_id: str, count: int) -> list[dict]:
    """count valid orders as the API takes them (JSON-ready dicts), all of product_id, each with its own order_id."""
    generator = OrderGenerator(invalid_share=0)
    pool = [generator.next().body for _ in range(min(count, POOL_SIZE))]
    return [dict(pool[i % len(pool)], product_id=product_id, order_id=str(uuid.uuid4())) for i in range(count)]


def requests(bodies: list[dict], per_request: int) -> list[tuple[bytes, int]]:
    """(request body, orders in it): an order each for POST /orders (per_request 1), else arrays of per_request."""
    if per_request == 1:
        return [(json.dumps(body).encode(), 1) for body in bodies]
    return [
        (json.dumps(bodies[i : i + per_request]).encode(), len(bodies[i : i + per_request]))
        for i in range(0, len(bodies), per_request)
    ]


def records(bodies: list[dict]) -> list[tuple[bytes, bytes]]:
    """The Kafka records the API produces for these orders: (key, value) as Order.record() makes them."""
    return [Order.model_validate(body).record() for body in bodies]
