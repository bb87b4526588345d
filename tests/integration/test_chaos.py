"""Faults injected on the real local stack: nothing accepted is lost, nothing is counted twice.

`make chaos` runs them at full size (CHAOS_SCALE=1: 50 000 orders a fault);
`make test` runs them at the default CHAOS_SCALE=0.1 (the same faults on a
tenth of the orders). Each test sends its own orders through the API as a
retrying client would, injects one fault, restores the stack, and compares
Cassandra and MySQL with what the API accepted (faults.py, ground_truth.py).
"""

import json
import random
import time
from datetime import UTC, datetime, timedelta

import pytest

from kafka import KafkaProducer
from pipeline.clients import kafka_python_config
from tests.integration.faults import OUTAGE_S, STREAM_S, check, deliver, in_flight, job_running, kill_9, outage
from tests.integration.ground_truth import Run, cassandra_rows
from tests.integration.helpers import DeadLetters, cassandra_session, make, pipeline_mysql

pytestmark = pytest.mark.chaos


def test_kill_9_the_job_three_times_during_a_stream(settings, cassandra, mysql, window):
    run, before, delivery = deliver(settings, mysql, 50_000)
    began = time.monotonic()
    flight = []
    for quarter in (1, 2, 3):
        time.sleep(max(0.0, began + STREAM_S * quarter / 4 - time.monotonic()))
        flight.append(in_flight(delivery, mysql, run))
        kill_9(settings, "spark")
    delivery.finish()
    check(settings, cassandra, mysql, window, run, before, "kill -9 the Spark job three times", flight)


def test_kafka_stopped_for_20_s_means_quick_503s_then_everything_once(settings, cassandra, mysql, window):
    run, before, delivery = deliver(settings, mysql, 50_000)
    time.sleep(10)
    flight = [in_flight(delivery, mysql, run)]
    outage("kafka")
    tally = delivery.finish()
    assert tally.retries, "no request was refused while Kafka was down"
    assert not tally.network_errors, "a request got no answer (the API hung or died)"
    assert max(tally.latencies) < 10, "an answer took more than 10 s: the API should refuse quickly"
    check(settings, cassandra, mysql, window, run, before, f"Kafka stopped for {OUTAGE_S} s", flight)


@pytest.mark.parametrize("store", ["mysql", "cassandra"])
def test_a_store_stopped_for_20_s_while_the_job_runs_loses_and_doubles_nothing(store, settings, mysql, window):
    run, before, delivery = deliver(settings, mysql, 50_000)
    time.sleep(10)
    flight = [in_flight(delivery, mysql, run)]
    outage(store)
    delivery.finish()
    # The test's own connections did not survive the restart: new ones.
    with cassandra_session(settings) as cassandra, pipeline_mysql(settings) as reconnected:
        check(settings, cassandra, reconnected, window, run, before, f"{store} stopped for {OUTAGE_S} s", flight)


def test_kill_9_the_api_during_load_loses_no_acknowledged_order(settings, cassandra, mysql, window):
    run, before, delivery = deliver(settings, mysql, 50_000)
    time.sleep(STREAM_S / 3)
    flight = [in_flight(delivery, mysql, run)]
    kill_9(settings, "api")
    tally = delivery.finish()
    assert tally.network_errors, "no request was cut off by the kill"
    check(settings, cassandra, mysql, window, run, before, "kill -9 the API", flight)


HOSTILE_FIELDS = [  # (field, JSON text of its value): a wrong type or a huge value
    ("customer_id", '"seven"'),
    ("customer_id", "[1]"),
    ("customer_id", "null"),
    ("customer_id", "1e999"),
    ("quantity", '"2"'),
    ("quantity", "true"),
    ("quantity", "9" * 400),
    ("quantity", "1e308"),
    ("source", "7"),
    ("created_at", "12"),
    ("total", '"9.99"'),
    ("unit_price", '"-1.00"'),
    ("product_id", '"' + "x" * 100_000 + '"'),
    ("product_id", '"x\'); DROP TABLE orders; --"'),
    ("drop table", '"orders; --"'),  # a field the contract does not have
]


def poison(rng: random.Random, valid: bytes) -> bytes:
    """One record the contract must refuse: random bytes, truncated JSON, or a field with a wrong type or huge value."""
    kind = rng.randrange(3)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 512))
    if kind == 1:
        return valid[: rng.randrange(1, len(valid) - 1)]
    body = json.loads(valid)
    field, value = rng.choice(HOSTILE_FIELDS)
    body[field] = "@@"
    return json.dumps(body).replace('"@@"', value).encode()


def test_a_thousand_poison_records_all_reach_the_dead_letter_topic_and_the_job_runs_on(settings, cassandra):
    dead_letters = DeadLetters(settings)
    rng = random.Random()
    valid = Run(20).orders
    producer = KafkaProducer(**kafka_python_config(settings), acks="all", max_request_size=2**20)
    poisoned = {}
    for _ in range(1000):
        value = poison(rng, rng.choice(valid).record()[1])
        metadata = producer.send(settings.orders_topic, value=value).get(timeout=30)
        poisoned[(metadata.partition, metadata.offset)] = value
    for order in valid:  # after the poison: the job must still be running to store them
        producer.send(settings.orders_topic, key=order.record()[0], value=order.record()[1]).get(timeout=30)
    producer.close()

    letters = dead_letters.wait_for(len(poisoned), lambda position, _: position in poisoned)
    print(f"1,000 poison records written to {settings.orders_topic}: {len(letters):,} of them in {settings.dlq_topic}")
    assert len(letters) == len(poisoned) == 1000
    assert all(value == poisoned[position] and ": " in reason for position, (value, reason) in letters.items())
    deadline = time.monotonic() + 120
    while len(cassandra_rows(cassandra, valid)) < len(valid) and time.monotonic() < deadline:
        time.sleep(1)
    assert sorted(cassandra_rows(cassandra, valid)) == sorted(str(o.order_id) for o in valid)
    assert job_running(settings)


def test_reconcile_after_the_faults_finds_both_stores_in_agreement(settings):
    # Every run above has its event times 3 to 30 hours back (ground_truth.Run), 30 minutes long.
    now = datetime.now(UTC)
    span = [f"FROM={now - timedelta(hours=31):%Y-%m-%dT%H:%M}", f"TO={now - timedelta(hours=2):%Y-%m-%dT%H:%M}"]
    reconciled = make("reconcile", *span)
    assert reconciled.returncode == 0, reconciled.stdout[-5000:] + reconciled.stderr[-3000:]
    print(reconciled.stdout.splitlines()[-1])
