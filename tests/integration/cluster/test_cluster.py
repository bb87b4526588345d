"""The cluster topology (TOPOLOGY=cluster): what it runs, and orders through it exactly once.

`make test-cluster` (and `make test`, after the single-node suite) starts the
cluster with `python -m pipeline.stack apart TOPOLOGY=cluster` and runs these;
the node-loss tests beside them are `make chaos-cluster`.
"""

import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
from cassandra.cluster import NoHostAvailable
from kafka.admin import ConfigResource, ConfigResourceType

from cassandra import ConsistencyLevel
from pipeline.clients import kafka_admin
from pipeline.settings import Settings
from tests.integration.ground_truth import (
    Delivery,
    Run,
    assert_stored_exactly,
    cassandra_rows,
    sales_rows,
    wait_until_stored,
)


def spark_master(settings: Settings) -> dict:
    return httpx.get(f"http://{settings.spark_local_ip}:{settings.spark_master_ui_port}/json/", timeout=10).json()


def job_executors(settings: Settings, active_only: bool = True) -> list[dict]:
    """The job's executors, from its driver's REST API (the driver itself left out)."""
    ui = f"http://{settings.spark_local_ip}:{settings.spark_ui_port}/api/v1/applications"
    app = httpx.get(ui, timeout=10).json()[0]["id"]
    executors = httpx.get(f"{ui}/{app}/{'executors' if active_only else 'allexecutors'}", timeout=10).json()
    return [e for e in executors if e["id"] != "driver"]


def test_kafka_is_three_nodes_and_the_topics_survive_losing_one(settings):
    admin = kafka_admin(settings)
    try:
        assert len(admin.describe_cluster()["brokers"]) == 3
        for topic in admin.describe_topics([settings.orders_topic, settings.dlq_topic]):
            assert len(topic["partitions"]) == settings.orders_partitions
            assert all(sorted(p["replica_nodes"]) == [1, 2, 3] for p in topic["partitions"]), topic
        resources = [ConfigResource(ConfigResourceType.TOPIC, t) for t in (settings.orders_topic, settings.dlq_topic)]
        configs = admin.describe_configs(resources)["topic"]
        assert {topic: config["min.insync.replicas"]["value"] for topic, config in configs.items()} == {
            settings.orders_topic: "2",
            settings.dlq_topic: "2",
        }
    finally:
        admin.close()


def test_cassandra_is_three_nodes_and_the_keyspace_has_three_replicas(settings, cassandra):
    # Both from one coordinator: itself and the peers it knows. Just after start-up, on two
    # busy cores, the driver can mark a node down for a while: any node that answers will do.
    deadline = time.monotonic() + 120
    while True:
        try:
            coordinator = next(host for host in cassandra.cluster.metadata.all_hosts() if host.is_up)
            local = cassandra.execute("SELECT listen_address FROM system.local", host=coordinator).one()
            peers = cassandra.execute("SELECT peer FROM system.peers_v2", host=coordinator).all()
            break
        except (StopIteration, NoHostAvailable):
            assert time.monotonic() < deadline, "no Cassandra node answered for 2 minutes"
            time.sleep(2)
    known = [str(local.listen_address), *(str(row.peer) for row in peers)]
    assert sorted(known) == sorted(settings.cassandra_nodes)
    replication = cassandra.execute(
        "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s", [settings.cassandra_keyspace]
    ).one()
    assert replication.replication["replication_factor"] == "3"


def test_the_job_runs_on_two_workers_with_the_shipped_python(settings):
    # The driver answers before the master has launched its executors, and an executor
    # unpacks the shipped Python only when its first task arrives: a just-started job
    # gets five minutes for both.
    def unpacked() -> list[Path]:
        return list(settings.state_path.glob("spark-worker-*/app-*/*/environment/bin/python"))

    deadline = time.monotonic() + 300
    while (len(job_executors(settings)) < 2 or len(unpacked()) < 2) and time.monotonic() < deadline:
        time.sleep(2)
    master = spark_master(settings)
    assert [w["state"] for w in master["workers"]] == ["ALIVE", "ALIVE"]
    assert [app["name"] for app in master["activeapps"]] == ["orders_stream"]
    assert len(job_executors(settings)) == 2
    # Each worker unpacked the environment for its executor (spark-submit --archives ...#environment).
    app = master["activeapps"][0]["id"]
    for worker in master["workers"]:
        state = httpx.get(f"{worker['webuiaddress']}/json/", timeout=10).json()
        assert [e["appid"] for e in state["executors"]] == [app]
    environments = [path for path in unpacked() if path.parts[-5] == app]
    assert len(environments) == 2, environments


def test_the_checkpoint_is_at_its_uri(settings):
    uri = urlparse(settings.checkpoint_uri)
    assert uri.scheme == "file"
    offsets = Path(uri.path) / "orders_stream" / "offsets"
    deadline = time.monotonic() + 120
    while not any(offsets.glob("[0-9]*")):
        assert time.monotonic() < deadline, f"no batch in {offsets}"
        time.sleep(1)


def test_orders_through_the_cluster_are_stored_once_on_every_replica(settings, cassandra, mysql, window):
    run = Run(2000)
    before = sales_rows(mysql, run)
    delivery = Delivery(settings, run.orders, rate=200)
    delivery.start()
    delivery.finish()
    # The job's first batch after the cluster starts waits for its executors and a cold
    # quorum: minutes on two cores (as the cluster's start-up allows 10, cluster.env).
    wait_until_stored(cassandra, mysql, run, window, timeout=600)
    assert_stored_exactly(cassandra, mysql, run, before, window)
    # Read at ALL: every replica answers with every order.
    assert len(cassandra_rows(cassandra, run.orders, ConsistencyLevel.ALL)) == len(run.orders)
