"""Where each service of the stack listens, and the real client query that proves it answers."""

import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from pipeline.clients import cassandra_cluster, kafka_admin, mysql_admin
from pipeline.settings import Settings

# Connection attempts fail by design while a server boots; the launcher reports the outcome itself.
for noisy in ("kafka", "cassandra"):
    logging.getLogger(noisy).setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class Service:
    name: str  # as in process-compose.yaml
    host: str
    port: int
    probe: Callable[[Settings], object]


def probe_kafka(settings: Settings) -> object:
    # Short timeouts: callers retry, and the default 30 s bootstrap wait would hide a broker that came up meanwhile.
    admin = kafka_admin(settings, request_timeout_ms=5000, bootstrap_timeout_ms=3000)
    try:
        return admin.describe_cluster()
    finally:
        admin.close()


def probe_cassandra(settings: Settings) -> object:
    cluster = cassandra_cluster(settings)
    try:
        return cluster.connect().execute("SELECT release_version FROM system.local").one()
    finally:
        cluster.shutdown()


def probe_mysql(settings: Settings) -> object:
    # The admin socket can answer while TCP, which every other client uses, is not bound.
    socket.create_connection((settings.mysql_host, settings.mysql_port), timeout=5).close()
    with mysql_admin(settings) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()


def probe_api(settings: Settings) -> object:
    return httpx.get(f"{settings.api_url}/healthz", timeout=2).raise_for_status()


def probe_spark(settings: Settings) -> object:
    """The driver's UI lists the application once the SparkContext is up."""
    url = f"http://{settings.spark_local_ip}:{settings.spark_ui_port}/api/v1/applications"
    applications = httpx.get(url, timeout=2).raise_for_status().json()
    if not applications:
        raise RuntimeError("no application yet")
    return applications


def probe_superset(settings: Settings) -> object:
    return httpx.get(f"{settings.superset_url}/health", timeout=2).raise_for_status()


def probe_error(service: Service, settings: Settings) -> Exception | None:
    """None when the service answers its real client query, else why not."""
    try:
        service.probe(settings)
        return None
    except Exception as error:  # any client error means "not answering (yet)"
        return error


def services(settings: Settings) -> list[Service]:
    return [
        Service("kafka", settings.kafka_host, settings.kafka_port, probe_kafka),
        Service("cassandra", settings.cassandra_host, settings.cassandra_port, probe_cassandra),
        Service("mysql", settings.mysql_host, settings.mysql_port, probe_mysql),
        Service("superset", settings.superset_host, settings.superset_port, probe_superset),
        Service("api", settings.api_host, settings.api_port, probe_api),
        Service("spark", settings.spark_local_ip, settings.spark_ui_port, probe_spark),
    ]
