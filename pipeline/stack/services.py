"""The servers of the local stack and the real client query that proves each is up."""

import logging
import os
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pymysql
from cassandra.cluster import Cluster
from kafka.admin import KafkaAdminClient

from pipeline.settings import REPO_ROOT, Settings
from pipeline.stack import processes

# Connection attempts fail by design while a server boots; the launcher
# reports the outcome itself.
for noisy in ("kafka", "cassandra"):
    logging.getLogger(noisy).setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class Service:
    name: str
    host: str
    port: int
    probe: Callable[[Settings], object]
    stop_timeout: float = 60.0
    folder: str = ""  # the service folder holding run.sh, when not named like the service
    client: bool = False  # uses the servers: starts after them and stops before them
    terminate: Callable[[int], None] = processes.terminate_group  # how a stop begins
    secrets: tuple[str, ...] = ()  # secret settings its run.sh needs in its environment

    @property
    def run_script(self) -> Path:
        return REPO_ROOT / (self.folder or self.name) / "run.sh"

    def pid_file(self, settings: Settings) -> Path:
        return settings.state_path / "run" / f"{self.name}.pid"

    def log_file(self, settings: Settings) -> Path:
        return settings.state_path / "log" / f"{self.name}.log"


def probe_kafka(settings: Settings) -> object:
    # Short timeouts: the launcher retries every second, and the default 30 s
    # bootstrap wait would hide a broker that came up meanwhile.
    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=5000, bootstrap_timeout_ms=3000
    )
    try:
        return admin.describe_cluster()
    finally:
        admin.close()


def cassandra_cluster(settings: Settings) -> Cluster:
    return Cluster([settings.cassandra_host], port=settings.cassandra_port, connect_timeout=5)


def probe_cassandra(settings: Settings) -> object:
    cluster = cassandra_cluster(settings)
    try:
        return cluster.connect().execute("SELECT release_version FROM system.local").one()
    finally:
        cluster.shutdown()


def mysql_socket(settings: Settings) -> Path:
    return settings.state_path / "mysql" / "mysqld.sock"


def mysql_admin(settings: Settings, **options) -> pymysql.Connection:
    """root, how the database and users are created: over the local MariaDB's unix
    socket, or over TCP when MYSQL_ADMIN_PASSWORD is set (compose's init job)."""
    password = settings.mysql_admin_password.get_secret_value()
    if password:
        return pymysql.connect(
            host=settings.mysql_host,
            port=settings.mysql_port,
            user="root",
            password=password,
            connect_timeout=5,
            **options,
        )
    return pymysql.connect(unix_socket=str(mysql_socket(settings)), user="root", connect_timeout=5, **options)


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


def terminate_spark_driver(pid: int) -> None:
    """SIGTERM to the Python driver only: it lets the running batch finish, then the JVM and
    spark_jobs/run.sh (pid, the JVM's parent and the driver's grandparent) exit with it."""
    drivers = [
        driver
        for jvm in processes.children(pid)
        for driver in processes.children(jvm)
        if "spark_jobs/" in processes.command_line(driver)
    ]
    for driver in drivers:
        os.kill(driver, signal.SIGTERM)
    if not drivers:
        processes.terminate_group(pid)


def services(settings: Settings) -> list[Service]:
    return [
        Service("kafka", settings.kafka_host, settings.kafka_port, probe_kafka),
        Service("cassandra", settings.cassandra_host, settings.cassandra_port, probe_cassandra, stop_timeout=120),
        Service("mysql", settings.mysql_host, settings.mysql_port, probe_mysql),
        Service(
            "superset",
            settings.superset_host,
            settings.superset_port,
            probe_superset,
            stop_timeout=30,
            secrets=("superset_secret_key", "superset_admin_password"),
        ),
        Service(
            "api", settings.api_host, settings.api_port, probe_api, stop_timeout=15, folder="ingest_api", client=True
        ),
        Service(
            "spark",
            settings.spark_local_ip,
            settings.spark_ui_port,
            probe_spark,
            stop_timeout=90,
            folder="spark_jobs",
            client=True,
            terminate=terminate_spark_driver,
        ),
    ]
