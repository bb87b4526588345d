"""Losing one node of the cluster topology loses nothing and counts nothing twice.

`make chaos-cluster` runs them at full size (CHAOS_SCALE=1: 20 000 orders a
fault). Each test streams orders through the API over a minute, kills one node
with SIGKILL (its process group: a worker takes its executor with it), lets the
supervisor start it again, and compares both stores with what the API accepted
(faults.py, as the single-node chaos tests do).
"""

import subprocess
import time

import pytest

from cassandra import ConsistencyLevel
from pipeline.stack.supervisor import declared
from tests.integration.cluster.test_cluster import job_executors
from tests.integration.faults import STREAM_S, check, deliver, in_flight, kill_9
from tests.integration.ground_truth import cassandra_rows
from tests.integration.helpers import cassandra_session, pipeline_mysql

pytestmark = pytest.mark.chaos
ORDERS = 20_000


def jmx_port(node: str) -> str:
    """The node's JMX port, as the topology declares it."""
    environment = dict(setting.split("=", 1) for setting in declared()[node]["environment"])
    return environment["CASSANDRA_JMX_PORT"]


def kill_one(settings, mysql, name: str):
    """Orders streamed while `name` is killed a third of the way in; the run, the count before it,
    the tally, and the orders in flight at the kill."""
    run, before, delivery = deliver(settings, mysql, ORDERS)
    time.sleep(STREAM_S / 3)
    flight = [in_flight(delivery, mysql, run)]
    kill_9(settings, name)
    tally = delivery.finish()
    print(f"kill -9 {name}: {tally.retries} batches answered 503 and sent again, {tally.network_errors} unanswered")
    assert not tally.network_errors, "a request got no answer: the API should answer 202, or 503 at worst"
    return run, before, flight


def test_kill_9_a_kafka_node(settings, cassandra, mysql, window):
    run, before, flight = kill_one(settings, mysql, "kafka-2")
    check(settings, cassandra, mysql, window, run, before, "kill -9 Kafka node 2 of 3", flight)


def test_kill_9_a_cassandra_node_then_every_replica_holds_every_order(settings, mysql, window):
    run, before, flight = kill_one(settings, mysql, "cassandra-2")
    # The test's own connections may have been routed through the dead node: new ones.
    with cassandra_session(settings) as cassandra, pipeline_mysql(settings) as reconnected:
        check(settings, cassandra, reconnected, window, run, before, "kill -9 Cassandra node 2 of 3", flight)
        # Hints replay what the node missed while down; the writes it had acknowledged but not
        # yet synced to its commitlog (periodic sync) died with it, and only a repair restores them.
        nodetool = ["bash", "cassandra/nodetool.sh", "-p", jmx_port("cassandra-2")]
        repaired = subprocess.run(
            [*nodetool, "repair", "-full", settings.cassandra_keyspace],
            capture_output=True,
            text=True,
        )
        assert repaired.returncode == 0, repaired.stdout + repaired.stderr
        assert len(cassandra_rows(cassandra, run.orders, ConsistencyLevel.ALL)) == len(run.orders)


def test_kill_9_a_spark_worker_and_its_executor(settings, cassandra, mysql, window):
    run, before, flight = kill_one(settings, mysql, "spark-worker-2")
    check(settings, cassandra, mysql, window, run, before, "kill -9 Spark worker 2 of 2 (and its executor)", flight)
    lost = [e for e in job_executors(settings, active_only=False) if not e["isActive"]]
    assert lost, "no executor was lost: the kill missed"


def test_kill_9_the_driver_then_it_is_submitted_again(settings, cassandra, mysql, window):
    run, before, flight = kill_one(settings, mysql, "spark")
    check(settings, cassandra, mysql, window, run, before, "kill -9 the Spark driver", flight)
