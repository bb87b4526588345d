"""Where each service of the stack listens, and the real client query that proves it answers.

The services and their addresses are those of the topology's process-compose
file (each readiness probe names the address); the query depends on the kind
of service (`kafka-2` is a `kafka`).
"""

import logging
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from pipeline.clients import cassandra_cluster, kafka_admin, mysql_admin
from pipeline.settings import Settings
from pipeline.stack.supervisor import declared

# Connection attempts fail by design while a server boots; the launcher reports the outcome itself.
for noisy in ("kafka", "cassandra"):
    logging.getLogger(noisy).setLevel(logging.CRITICAL)

Probe = Callable[[Settings, str, int], object]


@dataclass(frozen=True)
class Service:
    name: str  # as in the process-compose file
    kind: str  # kafka, cassandra, mysql, superset, api, spark, spark-master, spark-worker
    host: str
    port: int
    probe: Probe

    def answers(self, settings: Settings) -> object:
        return self.probe(settings, self.host, self.port)


def probe_kafka(settings: Settings, host: str, port: int) -> object:
    # Short timeouts: callers retry, and the default 30 s bootstrap wait would hide a broker that came up meanwhile.
    admin = kafka_admin(settings, f"{host}:{port}", request_timeout_ms=5000, bootstrap_timeout_ms=3000)
    try:
        return admin.describe_cluster()
    finally:
        admin.close()


def probe_cassandra(settings: Settings, host: str, port: int) -> object:
    cluster = cassandra_cluster(settings, [host], port)
    try:
        return cluster.connect().execute("SELECT release_version FROM system.local").one()
    finally:
        cluster.shutdown()


def probe_mysql(settings: Settings, host: str, port: int) -> object:
    # The admin socket can answer while TCP, which every other client uses, is not bound.
    socket.create_connection((host, port), timeout=5).close()
    with mysql_admin(settings) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()


def probe_http(path: str) -> Probe:
    def probe(_settings: Settings, host: str, port: int) -> object:
        return httpx.get(f"http://{host}:{port}{path}", timeout=2).raise_for_status()

    return probe


def probe_spark(_settings: Settings, host: str, port: int) -> object:
    """The driver's UI lists the application once the SparkContext is up."""
    applications = httpx.get(f"http://{host}:{port}/api/v1/applications", timeout=2).raise_for_status().json()
    if not applications:
        raise RuntimeError("no application yet")
    return applications


PROBES: dict[str, Probe] = {
    "kafka": probe_kafka,
    "cassandra": probe_cassandra,
    "mysql": probe_mysql,
    "superset": probe_http("/health"),
    "api": probe_http("/healthz"),
    "spark": probe_spark,
    "spark-master": probe_http("/json/"),
    "spark-worker": probe_http("/json/"),
}


def probe_error(service: Service, settings: Settings) -> Exception | None:
    """None when the service answers its real client query, else why not."""
    try:
        service.answers(settings)
        return None
    except Exception as error:  # any client error means "not answering (yet)"
        return error


def kind_of(name: str) -> str:
    return re.sub(r"-\d+$", "", name)


def address(probe: dict, settings: Settings) -> tuple[str, int]:
    """The host and port a readiness probe of the process-compose file checks, its ${SETTINGS} filled in."""
    values = {**settings.model_dump(), "state_dir": settings.state_path}

    def filled(text: object) -> str:
        return re.sub(r"\$\{(\w+)\}", lambda found: str(values[found[1].lower()]), str(text))

    if "http_get" in probe:
        return filled(probe["http_get"]["host"]), int(filled(probe["http_get"]["port"]))
    tcp = re.search(r"/dev/tcp/([^/]+)/(\d+)", filled(probe["exec"]["command"]))
    if tcp is None:
        raise ValueError(f"a readiness probe names no address: {probe}")
    return tcp[1], int(tcp[2])


def services(settings: Settings) -> list[Service]:
    """Every long-running process of the topology, in start order."""
    found = []
    for name, process in declared().items():
        if "readiness_probe" in process:
            host, port = address(process["readiness_probe"], settings)
            found.append(Service(name, kind_of(name), host, port, PROBES[kind_of(name)]))
    return found
