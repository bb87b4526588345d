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
from typing import Any

import httpx
from cassandra.cluster import NoHostAvailable
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from cassandra import AuthenticationFailed
from pipeline.clients import (
    ConfigError,
    cassandra_admin_account,
    cassandra_cluster,
    librdkafka_config,
    mysql_admin,
    mysql_connection,
)
from pipeline.settings import Settings
from pipeline.stack.supervisor import declared, kind_of

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
    external: bool = False  # run elsewhere (settings.external_kinds): not a process of ours

    def answers(self, settings: Settings) -> object:
        return self.probe(settings, self.host, self.port)


class Reasons(logging.Handler):
    """What librdkafka says while it tries (its errors and its log lines), kept to explain a failure."""

    def __init__(self) -> None:
        super().__init__()
        self.said: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.said.append(record.getMessage())

    def first(self) -> str | None:
        """The first that says why; "1/1 brokers are down" only follows it."""
        return next((said for said in self.said if "brokers are down" not in said), None)


def probe_kafka(settings: Settings, host: str, port: int) -> object:
    """The node's metadata, through librdkafka: unlike kafka-python, it says why it cannot
    connect (a refused SASL login, a certificate it does not trust, TLS spoken to plaintext)."""
    reasons = Reasons()
    logger = logging.Logger("librdkafka")
    logger.addHandler(reasons)
    config: dict[str, Any] = librdkafka_config(settings) | {
        "bootstrap.servers": f"{host}:{port}",
        "logger": logger,
        "error_cb": lambda e: reasons.said.append(e.str()),
    }
    admin = AdminClient(config)
    try:
        return admin.list_topics(timeout=5)
    except KafkaException as error:
        admin.poll(0.1)  # serves the callbacks
        raise ConnectionError(reasons.first() or str(error)) from None


def probe_cassandra(settings: Settings, host: str, port: int) -> object:
    cluster = cassandra_cluster(settings, [host], port)
    try:
        return cluster.connect().execute("SELECT release_version FROM system.local").one()
    except NoHostAvailable as error:
        # Before the schemas step has made the pipeline's role, the admin's sign-in says it answers.
        if settings.cassandra_admin_username and all(
            isinstance(reason, AuthenticationFailed) for reason in error.errors.values()
        ):
            cassandra_admin_account(settings, [host], port)
            return "answers; the pipeline's role is made by the schemas step"
        raise
    finally:
        cluster.shutdown()


def probe_mysql(settings: Settings, host: str, port: int) -> object:
    # The admin socket can answer while TCP, which every other client uses, is not bound.
    socket.create_connection((host, port), timeout=5).close()
    with mysql_admin(settings) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM mysql.user WHERE user = %s", (settings.mysql_user,))
        (made,) = cursor.fetchone() or (0,)
    if made:  # once the schemas step has made it: the pipeline's own way in, TLS as the settings say
        with mysql_connection(settings) as connection:
            connection.ping()
    return made


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


# What a client's error says about the settings, by kind of service: (a pattern of the error's
# text, the settings to check). Such an error will not go away by waiting.
MISCONFIGURED: dict[str, list[tuple[str, str]]] = {
    "kafka": [
        (
            r"[Aa]uthentication failed|SASL authentication error",
            "KAFKA_USERNAME, KAFKA_PASSWORD and KAFKA_SASL_MECHANISM",
        ),
        (r"certificate verify failed|SSL handshake failed", "KAFKA_SSL_CA_FILE (the CA of the brokers' certificates)"),
        (
            r"incorrect security\.protocol|connecting to a SSL listener|state APIVERSION_QUERY",
            "KAFKA_SECURITY_PROTOCOL (the listener speaks another protocol)",
        ),
    ],
    "cassandra": [
        (r"AuthenticationFailed|Bad credentials", "CASSANDRA_USERNAME and CASSANDRA_PASSWORD"),
        (r"CERTIFICATE_VERIFY_FAILED", "CASSANDRA_SSL_CA_FILE (the CA of the nodes' certificates)"),
        (r"ConnectionResetError|WRONG_VERSION_NUMBER", "CASSANDRA_SSL (the node speaks another protocol)"),
    ],
    "mysql": [
        (r"\(1045,", "MYSQL_USER and MYSQL_PASSWORD, and MYSQL_SSL when the server requires TLS"),
        (r"CERTIFICATE_VERIFY_FAILED", "MYSQL_SSL_CA_FILE (the CA of the server's certificate)"),
    ],
}


def misconfigured(kind: str, error: Exception) -> str | None:
    """The settings an error points at, or None when it may be a server still starting."""
    if isinstance(error, ConfigError):
        return str(error)
    text = f"{type(error).__name__}: {error!r}"
    for pattern, settings_to_check in MISCONFIGURED.get(kind, []):
        if re.search(pattern, text):
            return f"check {settings_to_check}"
    return None


def probe_error(service: Service, settings: Settings) -> Exception | None:
    """None when the service answers its real client query, else why not."""
    try:
        service.answers(settings)
        return None
    except Exception as error:  # any client error means "not answering (yet)"
        return error


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


def probe_port(_settings: Settings, host: str, port: int) -> object:
    """A server whose client protocol has no cheap query here (a Spark master's spark://): its port."""
    socket.create_connection((host, port), timeout=5).close()
    return "port open"


def external_addresses(kind: str, settings: Settings) -> list[tuple[str, int]]:
    """Where the clients reach a kind of server run elsewhere: the addresses the settings give them."""

    def split(address: str) -> tuple[str, int]:
        host, _, port = address.strip().rpartition(":")
        return host, int(port)

    match kind:
        case "kafka":
            return [split(address) for address in settings.kafka_bootstrap.split(",")]
        case "cassandra":
            return [(node, settings.cassandra_port) for node in settings.cassandra_nodes]
        case "mysql":
            return [(settings.mysql_host, settings.mysql_port)]
        case "superset":
            return [(settings.superset_host, settings.superset_port)]
        case "spark-master":
            return [split(settings.spark_master.removeprefix("spark://"))]
    return []  # a Spark worker: its master answers for the cluster


def services(settings: Settings) -> list[Service]:
    """Every long-running server of the topology, in start order: the processes of ours, and
    in their place each address of a kind run elsewhere."""
    servers = {name: process for name, process in declared().items() if "readiness_probe" in process}
    kinds = list(dict.fromkeys(kind_of(name) for name in servers))
    for kind in sorted(settings.external_kinds - set(kinds)):  # e.g. the master behind SPARK_MASTER
        kinds.insert(kinds.index("spark") if "spark" in kinds else len(kinds), kind)
    found = [
        Service(name, kind_of(name), *address(process["readiness_probe"], settings), PROBES[kind_of(name)])
        for name, process in servers.items()
        if kind_of(name) not in settings.external_kinds
    ]
    for kind in settings.external_kinds:
        addresses = external_addresses(kind, settings)
        probe = probe_port if kind == "spark-master" else PROBES[kind]
        for number, (host, port) in enumerate(addresses, 1):
            name = kind if len(addresses) == 1 else f"{kind}-{number}"
            found.append(Service(name, kind, host, port, probe, external=True))
    return sorted(found, key=lambda service: kinds.index(service.kind))
