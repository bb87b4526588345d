"""The Spark job on the real stack: orders through the API end up exactly once in Cassandra and MySQL.

Faults (kill -9, stores and Kafka stopped, poison records) are in test_chaos.py.
"""

import random

from pipeline.stack import processes
from pipeline.stack.supervisor import log_file
from tests.integration.ground_truth import Run, assert_stored_exactly, post, sales_rows, wait_until_stored
from tests.integration.helpers import pid, stack


def test_orders_through_the_api_land_exactly_once_in_cassandra_and_mysql(api, cassandra, mysql, window):
    run = Run(3000)
    before = sales_rows(mysql, run)
    post(api, run, run.orders)
    post(api, run, random.sample(run.orders, 200))  # a client resending: same order_ids, counted once
    wait_until_stored(cassandra, mysql, run, window)
    assert_stored_exactly(cassandra, mysql, run, before, window)


def test_submit_twice_runs_one_job_and_stop_job_lets_it_finish(settings):
    job = pid(settings, "spark")
    again = stack("up", "spark")
    assert again.returncode == 0, again.stderr
    assert "spark: already running" in again.stdout
    assert pid(settings, "spark") == job

    stopped = stack("down", "spark")
    assert stopped.returncode == 0, stopped.stderr
    assert job is not None
    assert not processes.alive(job)
    assert pid(settings, "spark") is None, "the supervisor started the stopped job again"
    log = log_file(settings, "spark").read_text()
    assert "orders_stream: stopped" in log[-5000:], "the driver did not finish its batch and stop by itself"
    started = stack("up", "spark")
    assert started.returncode == 0, started.stdout + started.stderr
