"""The windows the stream must produce, computed in plain Python from the orders themselves."""

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pipeline.contract import Order
from pipeline.stack import schemas
from spark_jobs.transforms import NO_PAYMENT_METHOD, UNKNOWN_STATE

Totals = dict[tuple, tuple[int, int, Decimal]]


def customer_states() -> dict[int, str]:
    """customer_id -> state from the reference data `make up` loads into MySQL."""
    return {int(customer_id): state for customer_id, _name, state, *_ in schemas.customers()}


def window_of(created_at: datetime, window: timedelta) -> tuple[datetime, datetime]:
    """Naive UTC bounds of the tumbling window holding created_at (windows start at the epoch)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    start = epoch + (created_at - epoch) // window * window
    return start.replace(tzinfo=None), (start + window).replace(tzinfo=None)


def _totals(orders: Iterable[Order], key: Callable[[Order], tuple]) -> Totals:
    totals: defaultdict[tuple, tuple[int, int, Decimal]] = defaultdict(lambda: (0, 0, Decimal("0.00")))
    for order in orders:
        assert order.total is not None  # the contract computes it
        count, units, revenue = totals[key(order)]
        totals[key(order)] = (count + 1, units + order.quantity, revenue + order.total)
    return dict(totals)


def sales_by_minute(orders: Iterable[Order], states: dict[int, str], window: timedelta) -> Totals:
    """(window_start, window_end, source, state, payment_method, currency) -> (orders, units, revenue)."""
    return _totals(
        orders,
        lambda o: (
            *window_of(o.created_at, window),
            o.source.value,
            states.get(o.customer_id, UNKNOWN_STATE),
            o.payment_method.value if o.payment_method else NO_PAYMENT_METHOD,
            o.currency,
        ),
    )


def product_sales_by_minute(orders: Iterable[Order], window: timedelta) -> Totals:
    """(window_start, window_end, product_id) -> (orders, units, revenue)."""
    return _totals(orders, lambda o: (*window_of(o.created_at, window), o.product_id))
