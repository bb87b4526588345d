"""process-compose.cluster.yaml and cluster.env, the cluster topology's declaration, agree with each other.

Each node's own address and ports are in the YAML; what every client and node
is given (bootstrap list, quorum voters, contact points) is in cluster.env.
The topology is chosen when pipeline.settings is imported, so it is read in a
child process started with TOPOLOGY=cluster.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from pipeline.settings import REPO_ROOT

READ = """
import json
from pipeline.settings import get_settings
from pipeline.stack.__main__ import server_env
from pipeline.stack.services import services
from pipeline.stack.supervisor import CONFIG, TOOLS, declared
settings = get_settings()
print(json.dumps({
    "config": str(CONFIG),
    "tools": str(TOOLS),
    "processes": declared(),
    "services": [[s.name, s.kind, s.host, s.port] for s in services(settings)],
    "bootstrap": settings.kafka_bootstrap,
    "voters": settings.kafka_voters,
    "cassandra_nodes": settings.cassandra_nodes,
    "replication": [settings.kafka_replication_factor, settings.kafka_min_insync_replicas,
                    settings.cassandra_replication_factor],
    "checkpoint_uri": settings.checkpoint_uri,
    "env": server_env(settings),
}))
"""


@pytest.fixture(scope="module")
def cluster() -> dict:
    read = subprocess.run(
        [sys.executable, "-c", READ],
        cwd=REPO_ROOT,
        env={**os.environ, "TOPOLOGY": "cluster"},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(read.stdout)


def environment(process: dict) -> dict[str, str]:
    return dict(setting.split("=", 1) for setting in process.get("environment", []))


def of_kind(cluster: dict, kind: str) -> list[list]:
    return [service for service in cluster["services"] if service[1] == kind]


def test_process_compose_itself_accepts_the_cluster_file(cluster):
    binary = shutil.which("process-compose", path=os.pathsep.join([cluster["tools"], os.environ["PATH"]]))
    if binary is None:
        pytest.skip("process-compose is not built yet (`make setup` builds it)")
    checked = subprocess.run(
        [binary, "--config", cluster["config"], "--disable-dotenv", "up", "--dry-run"],
        env=cluster["env"],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_three_kafka_nodes_are_what_clients_bootstrap_from_and_the_quorums_voters(cluster):
    nodes = of_kind(cluster, "kafka")
    assert [f"{host}:{port}" for _name, _kind, host, port in nodes] == cluster["bootstrap"].split(",")
    voters = [
        f"{environment(cluster['processes'][name])['KAFKA_NODE_ID']}@{host}:"
        f"{environment(cluster['processes'][name])['KAFKA_CONTROLLER_PORT']}"
        for name, _kind, host, _port in nodes
    ]
    assert voters == cluster["voters"].split(",")
    assert [environment(cluster["processes"][name])["KAFKA_PORT"] for name, *_ in nodes] == [
        str(port) for *_, port in nodes
    ]


def test_three_cassandra_nodes_on_their_own_addresses_are_the_contact_points(cluster):
    nodes = of_kind(cluster, "cassandra")
    assert [host for _name, _kind, host, _port in nodes] == cluster["cassandra_nodes"]
    assert [environment(cluster["processes"][name])["CASSANDRA_HOST"] for name, *_ in nodes] == cluster[
        "cassandra_nodes"
    ]
    jmx_ports = [environment(cluster["processes"][name])["CASSANDRA_JMX_PORT"] for name, *_ in nodes]
    assert len(set(jmx_ports)) == 3


def test_replicated_so_that_one_node_of_three_can_be_lost(cluster):
    assert cluster["replication"] == [3, 2, 3]


def test_a_spark_master_with_two_workers_runs_the_job(cluster):
    assert len(of_kind(cluster, "spark-master")) == 1
    workers = of_kind(cluster, "spark-worker")
    assert len(workers) == 2
    assert len({port for *_, port in workers}) == 2
    depends = cluster["processes"]["spark"]["depends_on"]
    assert {"spark-worker-1", "spark-worker-2", "spark-python"} <= set(depends)
    assert cluster["checkpoint_uri"].startswith("file:///")


def test_its_servers_follow_the_same_rules_as_the_single_node_ones(cluster):
    for name, process in cluster["processes"].items():
        assert process["log_location"] == f"${{STATE_DIR}}/log/{name}.log", name
        if "readiness_probe" in process:
            assert process["availability"]["restart"] == "on_failure", name
            assert process["shutdown"]["timeout_seconds"] > 0, name
        else:
            assert "availability" not in process, name
