"""Faults and their accounting, shared by the single-node chaos tests (test_chaos.py) and
the cluster's node-loss tests (cluster/test_node_loss.py).

Each test sends its own orders through the API as a retrying client would
(ground_truth.Delivery), injects a fault, lets the stack recover, and compares
Cassandra and MySQL with what the API accepted. CHAOS_SCALE scales the orders:
`make chaos`/`make chaos-cluster` run at 1, `make test` at the default 0.1.
"""

import os
import signal
import time
from datetime import timedelta

from tests.integration import helpers
from tests.integration.ground_truth import (
    Delivery,
    Run,
    assert_stored_exactly,
    cassandra_rows,
    product_rows,
    sales_rows,
    wait_until_stored,
)
from tests.integration.helpers import stack

SCALE = float(os.environ.get("CHAOS_SCALE", "0.1"))
STREAM_S = 60  # every test sends its orders over a minute, faults happen meanwhile
OUTAGE_S = 20


def orders(count: int) -> int:
    return max(200, round(count * SCALE))


def kill_9(settings, name: str) -> None:
    """SIGKILL the service's whole process group, as a crash would; the supervisor starts it again."""
    pid = helpers.pid(settings, name)
    assert pid, f"{name} is not running"
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while helpers.pid(settings, name) in (pid, None):
        assert time.monotonic() < deadline, f"{name} was not started again within 60 s of its kill -9"
        time.sleep(0.5)
    start(name)  # waits until it answers


def start(*names: str) -> None:
    started = stack("up", *names)
    assert started.returncode == 0, started.stdout + started.stderr


def outage(name: str) -> None:
    """Stop the service for OUTAGE_S s, then start it again."""
    stopped = stack("down", name)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    time.sleep(OUTAGE_S)
    start(name)


def job_running(settings) -> bool:
    return helpers.pid(settings, "spark") is not None


def counted(mysql, run: Run) -> int:
    return sum(orders for orders, _units, _revenue in product_rows(mysql, run).values())


def in_flight(delivery: Delivery, mysql, run: Run) -> int:
    """Orders the API has accepted that MySQL does not count yet: what a fault now could lose or double."""
    return delivery.tally.accepted - counted(mysql, run)


def check(settings, cassandra, mysql, window, run: Run, before: dict, fault: str, flight: list[int]) -> None:
    """Both stores hold exactly the accepted orders (waiting up to 10 minutes), and the job runs on."""
    wait_until_stored(cassandra, mysql, run, window, timeout=600)
    stored, count = len(cassandra_rows(cassandra, run.orders)), counted(mysql, run)
    print(
        f"{fault}: {len(run.orders):,} orders accepted, {' / '.join(f'{n:,}' for n in flight)} in flight "
        f"at the fault; Cassandra holds {stored:,}, MySQL counts {count:,}: "
        f"{len(run.orders) - stored:,} lost, {count - len(run.orders):,} counted twice; "
        f"the job is {'running' if job_running(settings) else 'stopped'}"
    )
    assert_stored_exactly(cassandra, mysql, run, before, window)
    assert job_running(settings), "the Spark job stopped"


def deliver(settings, mysql, count: int) -> tuple[Run, dict, Delivery]:
    """A run of `count` orders over 30 minutes of event time, started in the background over STREAM_S."""
    run = Run(orders(count), span=timedelta(minutes=30))
    before = sales_rows(mysql, run)
    delivery = Delivery(settings, run.orders, rate=len(run.orders) / STREAM_S)
    delivery.start()
    return run, before, delivery
