"""`make reconcile` and `make backfill` on the real stack while the load generator runs: windows
changed by hand in MySQL are reported and put right, and the live windows end exact against what
the API accepted. After the fault-injection tests, reconcile finds both stores in agreement
(test_chaos.py)."""

import time
from datetime import timedelta

from tests.integration.ground_truth import (
    Delivery,
    Run,
    assert_stored_exactly,
    net,
    sales_rows,
    wait_until_stored,
)
from tests.integration.helpers import make

SALES_KEY = (
    "window_start = %s AND window_end = %s AND source = %s AND state = %s AND payment_method = %s AND currency = %s"
)


def hours_of(run: Run) -> list[str]:
    """FROM= and TO= covering the run's event times, in whole hours."""
    start = run.start.replace(minute=0, second=0, microsecond=0)
    end = (run.start + run.span).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return [f"FROM={start:%Y-%m-%dT%H:%M}", f"TO={end:%Y-%m-%dT%H:%M}"]


def test_windows_changed_by_hand_are_reported_and_backfilled_while_orders_flow(settings, cassandra, mysql, window):
    run = Run(6000)
    before = sales_rows(mysql, run)
    delivery = Delivery(settings, run.orders, rate=40)  # 150 s of orders, counted while the jobs below run
    delivery.start()
    deadline = time.monotonic() + 120
    while len(added := net(sales_rows(mysql, run), before)) < 2:
        assert time.monotonic() < deadline, "the run's first windows did not reach MySQL in 2 minutes"
        time.sleep(1)
    deleted, altered = sorted(added)[:2]
    with mysql.cursor() as cursor:
        cursor.execute(f"DELETE FROM sales_by_minute WHERE {SALES_KEY}", deleted)
        cursor.execute(
            f"UPDATE sales_by_minute SET orders = orders + 7, revenue = revenue + 70 WHERE {SALES_KEY}", altered
        )

    reconciled = make("reconcile", *hours_of(run))
    # The job exits 1; make, whose recipe failed, says so and exits 2.
    assert "reconcile] Error 1" in reconciled.stderr, reconciled.stdout[-3000:] + reconciled.stderr[-3000:]
    for key in (deleted, altered):
        assert f"differs sales_by_minute {' '.join(map(str, key))}:" in reconciled.stdout, reconciled.stdout[-3000:]
    assert "differ" in reconciled.stdout.splitlines()[-1]

    backfilled = make("backfill", *hours_of(run))
    assert backfilled.returncode == 0, backfilled.stdout[-3000:] + backfilled.stderr[-3000:]
    assert delivery.is_alive(), "the load generator had stopped before the backfill ended"

    delivery.finish()
    wait_until_stored(cassandra, mysql, run, window)
    assert_stored_exactly(cassandra, mysql, run, before, window)
    again = make("reconcile", *hours_of(run))
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert ", 0 differ" in again.stdout.splitlines()[-1]
