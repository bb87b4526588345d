"""IDEMPOTENCY_HORIZON on the real stack: a resent order counts once however late within it; an
order_id reused with other content, or resent after the horizon, is a dead letter, and both stores
keep the first version, counted once. WATERMARK_DELAY and the horizon are shortened for the test,
in .env, as a user changes them, and the job restarted; the test puts both back."""

import time
from datetime import UTC, datetime

from tests.integration.ground_truth import (
    Run,
    assert_stored_exactly,
    cassandra_rows,
    post,
    sales_rows,
    wait_until_stored,
)
from tests.integration.helpers import DeadLetters, env_changed, stack

WATERMARK_S, HORIZON_S = 5, 90


def restart_the_job() -> None:
    for step in ("down", "up"):
        done = stack(step, "spark")
        assert done.returncode == 0, done.stdout + done.stderr


def test_resent_orders_count_once_within_the_horizon_and_again_after_it(settings, api, cassandra, mysql, window):
    try:
        with env_changed(WATERMARK_DELAY=f"{WATERMARK_S} seconds", IDEMPOTENCY_HORIZON=f"{HORIZON_S} seconds"):
            restart_the_job()
            run = Run(200)
            before = sales_rows(mysql, run)
            post(api, run, run.orders)
            wait_until_stored(cassandra, mysql, run, window)
            first_seen = {order_id: row.first_seen for order_id, row in cassandra_rows(cassandra, run.orders).items()}

            time.sleep(WATERMARK_S + 1)  # past the watermark that used to bound the dedup
            dead_letters = DeadLetters(settings)
            post(api, run, run.orders)  # a client resending everything: counted once
            reused = [  # the same order_ids, one more of each item
                order.model_copy(
                    update={"quantity": order.quantity + 1, "total": (order.quantity + 1) * order.unit_price}
                )
                for order in run.orders[:5]
            ]
            post(api, run, reused)
            ids = {str(order.order_id).encode() for order in reused}
            letters = dead_letters.wait_for(5, lambda _, value: any(order_id in value for order_id in ids))
            assert [reason.split(" (")[0] for _, reason in letters.values()] == [
                "order_id: reused with different content"
            ] * 5, letters
            # Processed after the resend: both stores hold exactly the first versions, counted once.
            assert_stored_exactly(cassandra, mysql, run, before, window)

            again = run.orders[:50]
            newest = max(first_seen[str(order.order_id)] for order in again).replace(tzinfo=UTC)
            time.sleep(max(0.0, newest.timestamp() + HORIZON_S + 1 - datetime.now(UTC).timestamp()))
            dead_letters = DeadLetters(settings)
            post(api, run, again)  # past the horizon: dead letters, still counted once
            ids = {str(order.order_id).encode() for order in again}
            letters = dead_letters.wait_for(50, lambda _, value: any(order_id in value for order_id in ids))
            assert (len(letters), {reason.split(" (")[0] for _, reason in letters.values()}) == (
                50,
                {f"order_id: resent more than {HORIZON_S} seconds after it was first seen"},
            )
            assert_stored_exactly(cassandra, mysql, run, before, window)
            assert {order_id: row.first_seen for order_id, row in cassandra_rows(cassandra, run.orders).items()} == (
                first_seen
            )
    finally:
        restart_the_job()
