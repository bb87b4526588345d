"""The Spark job on the real stack: orders through the API end up exactly once in Cassandra and MySQL.

Faults (kill -9, stores and Kafka stopped, poison records) are in test_chaos.py.
"""

import random

from pipeline.stack import processes
from tests.integration.ground_truth import Run, assert_stored_exactly, post, sales_rows, wait_until_stored
from tests.integration.helpers import service, stack


def test_orders_through_the_api_land_exactly_once_in_cassandra_and_mysql(api, cassandra, mysql, window):
    run = Run(3000)
    before = sales_rows(mysql, run)
    post(api, run, run.orders)
    post(api, run, random.sample(run.orders, 200))  # a client resending: same order_ids, counted once
    wait_until_stored(cassandra, mysql, run, window)
    assert_stored_exactly(cassandra, mysql, run, before, window)


def test_submit_twice_runs_one_job_and_stop_job_lets_it_finish(settings):
    spark = service(settings, "spark")
    pid = processes.running_pid(spark.pid_file(settings))
    again = stack("up", "spark")
    assert again.returncode == 0 and "already running" in again.stdout
    assert processes.running_pid(spark.pid_file(settings)) == pid

    stopped = stack("down", "spark")
    assert stopped.returncode == 0, stopped.stderr
    assert not processes.alive(pid)
    log = spark.log_file(settings).read_text()
    assert "orders_stream: stopped" in log[-5000:], "the driver did not finish its batch and stop by itself"
    started = stack("up", "spark")
    assert started.returncode == 0, started.stdout + started.stderr
