"""Every host, port, name and secret, read once from `.env` (and the environment).

Environment variables win over `.env`, so a test or a user can override one
value without editing the file: `MYSQL_PORT=3307 make up`. TOPOLOGY=cluster
adds the values of cluster.env over `.env` (three Kafka and Cassandra nodes, a
Spark standalone cluster): the same settings, other values.
"""

import os
import re
import shlex
import sys
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The project's folder. Code shipped to a Spark cluster runs from a zip (spark-submit
# --py-files), which has none: there the working directory stands in (spark_jobs/run.sh
# starts the driver in the project; an executor's has no .env, so it reads the environment).
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent
REPO_ROOT = _PACKAGE_ROOT if _PACKAGE_ROOT.is_dir() else Path.cwd()
# What each topology changes of .env: process-compose.yaml, or process-compose.NAME.yaml with NAME.env.
TOPOLOGIES = ("single", "cluster")
TOPOLOGY = os.environ.get("TOPOLOGY") or "single"
if TOPOLOGY not in TOPOLOGIES:
    raise SystemExit(f"TOPOLOGY={TOPOLOGY}: use one of {', '.join(TOPOLOGIES)}")
# SECURE=true adds secure.env: our own servers with TLS and accounts on (single topology).
SECURE = (os.environ.get("SECURE") or "false").lower() in ("true", "1", "yes")
if SECURE and TOPOLOGY != "single":
    raise SystemExit("SECURE=true runs the single-node topology; leave TOPOLOGY unset")
ENV_FILES = (
    REPO_ROOT / ".env",
    *([REPO_ROOT / f"{TOPOLOGY}.env"] if TOPOLOGY != "single" else []),
    *([REPO_ROOT / "secure.env"] if SECURE else []),
)


class ContractSettings(BaseSettings):
    """What the order contract reads, alone: Spark executors validate orders with it
    and hold no secrets (spark_jobs/run.sh passes these as spark.executorEnv)."""

    model_config = SettingsConfigDict(env_file=ENV_FILES, extra="ignore")

    default_unit_price: Decimal = Decimal("300.00")


class Settings(ContractSettings):
    state_dir: Path = Path("var")

    # A broker's own node id and listeners (each node of a cluster has its own) ...
    kafka_node_id: int = 1
    kafka_host: str = "127.0.0.1"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_heap: str = "512M"
    # ... and what every client and node is given; empty: the one node above.
    kafka_bootstrap_servers: str = ""
    kafka_quorum_voters: str = ""
    # How every client reaches Kafka (pipeline/clients.py): PLAINTEXT, SSL or SASL_SSL, a
    # SASL mechanism and account, and the PEM file of the CA that signed the brokers'
    # certificates (empty: the system's CAs).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_username: str = ""
    kafka_password: SecretStr = SecretStr("")
    kafka_ssl_ca_file: str = ""
    # The account that creates the topics and grants the pipeline's account its ACLs on them
    # (secure mode: also the brokers' own); empty: the pipeline's account creates the topics.
    kafka_admin_username: str = ""
    kafka_admin_password: SecretStr = SecretStr("")
    orders_topic: str = "orders"
    dlq_topic: str = "orders.dlq"
    orders_partitions: int = 3
    kafka_replication_factor: int = 1
    kafka_min_insync_replicas: int = 1

    # A node's own address and ports ...
    cassandra_host: str = "127.0.0.1"
    cassandra_port: int = 9042
    cassandra_storage_port: int = 7000
    cassandra_jmx_port: int = 7199
    cassandra_heap: str = "1G"
    # ... and what every client and node is given; empty: the one node above.
    cassandra_contact_points: str = ""
    cassandra_seeds: str = ""
    cassandra_local_dc: str = "datacenter1"
    cassandra_keyspace: str = "sales"
    cassandra_replication_factor: int = 1
    # Per data centre, "dc1:3,dc2:3": NetworkTopologyStrategy; empty: SimpleStrategy with the factor above.
    cassandra_replication: str = ""
    # An account (empty: none, for a cluster without authentication) and client TLS.
    cassandra_username: str = ""
    cassandra_password: SecretStr = SecretStr("")
    cassandra_ssl: bool = False
    cassandra_ssl_ca_file: str = ""
    # The superuser that creates the keyspace and the pipeline's role (empty: the pipeline's
    # account does both). `make up` changes Cassandra's default superuser password
    # (cassandra/cassandra) to this one on first start.
    cassandra_admin_username: str = ""
    cassandra_admin_password: SecretStr = SecretStr("")

    mysql_host: str = "127.0.0.1"
    mysql_port: int = 3306
    mysql_database: str = "sales"
    mysql_user: str = "pipeline"
    mysql_password: SecretStr
    mysql_readonly_user: str = "dashboard"
    mysql_readonly_password: SecretStr
    # The account that creates the database, its tables and users: over TCP with a password
    # (compose's init job, an external MySQL); with none, root over the local MariaDB's socket.
    mysql_admin_user: str = "root"
    mysql_admin_password: SecretStr = SecretStr("")
    # TLS to MySQL, the server's certificate checked against this CA (empty: the system's).
    mysql_ssl: bool = False
    mysql_ssl_ca_file: str = ""

    # Locks secure mode's key store (pipeline/stack/tls.py).
    tls_keystore_password: SecretStr = SecretStr("")

    # A server already run elsewhere (the addresses above point at it): `make up` installs and
    # starts none of it, checks that it answers and applies topics and schemas to it.
    kafka_external: bool = False
    cassandra_external: bool = False
    mysql_external: bool = False
    superset_external: bool = False
    # The cluster behind SPARK_MASTER (spark://…): no master or workers of ours.
    spark_external: bool = False

    startup_timeout: float = 240.0

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # uvicorn worker processes, each with its own Kafka producer; about one per core.
    api_workers: int = 2
    # Required and never empty: the API always asks for a key (comma-separated, any one of them).
    api_keys: SecretStr
    max_body_bytes: int = 1_048_576
    max_batch_orders: int = 1000
    # The API answers 503 when Kafka has not acknowledged within this time.
    kafka_delivery_timeout_ms: int = 1500
    retry_after_seconds: int = 2

    # The Spark streaming job (spark_jobs/); durations in Spark's syntax.
    spark_master: str = "local[*]"
    spark_local_ip: str = "127.0.0.1"
    spark_ui_port: int = 4040
    spark_driver_memory: str = "1g"
    spark_driver_java_options: str = ""  # extra JVM options of the driver (docs/performance.md)
    spark_shuffle_partitions: int = 3
    # More spark-submit arguments, after the project's own: a `--conf k=v` here wins.
    spark_submit_args: str = ""
    # Where the stream's checkpoints live, a URI the driver and every executor reach
    # (file://, hdfs://, s3a://); empty: $STATE_DIR/checkpoints.
    checkpoint_location: str = ""
    # Executors in their own JVMs (a cluster master) need the job's Python shipped to them.
    spark_ship_python: bool = False
    # A standalone cluster's master UI and each worker's share (spark/run-*.sh).
    spark_master_ui_port: int = 8080
    spark_worker_ui_port: int = 8081
    spark_worker_cores: int = 1
    spark_worker_memory: str = "1g"
    starting_offsets: str = "earliest"
    max_offsets_per_trigger: int = 50_000
    trigger_interval: str = "1 second"
    window_duration: str = "1 minute"
    watermark_delay: str = "2 minutes"
    idempotency_horizon: str = "24 hours"
    customers_refresh_seconds: float = 60.0
    # Days of rows MySQL keeps (pipeline/retention.py; 0: all), purged every interval by the job.
    minute_windows_keep_days: int = 2
    hour_windows_keep_days: int = 90
    day_windows_keep_days: int = 0
    progress_keep_days: int = 7
    retention_interval_seconds: float = 3600.0
    stream_batch_timeout_seconds: float = 900.0

    superset_host: str = "127.0.0.1"
    superset_port: int = 8088
    superset_admin_user: str = "admin"
    superset_admin_password: SecretStr
    superset_secret_key: SecretStr
    superset_threads: int = 8

    @field_validator("cassandra_replication")
    @classmethod
    def _per_data_centre(cls, replication: str) -> str:
        if replication and not re.fullmatch(r"\s*[\w.-]+:\d+\s*(,\s*[\w.-]+:\d+\s*)*", replication):
            raise ValueError("expected data centre:factor pairs, e.g. dc1:3,dc2:3")
        return replication

    @model_validator(mode="after")
    def _horizon_within_progress_rows(self) -> "Settings":
        # The stream tells committed batches of earlier checkpoints by their progress rows.
        if self.progress_keep_days and seconds(self.idempotency_horizon) >= self.progress_keep_days * 86_400:
            raise ValueError("IDEMPOTENCY_HORIZON must be shorter than PROGRESS_KEEP_DAYS (or keep progress: 0)")
        return self

    @model_validator(mode="after")
    def _accounts_have_passwords(self) -> "Settings":
        needed = {
            "kafka": self.kafka_security_protocol == "SASL_SSL",
            "kafka_admin": bool(self.kafka_admin_username),
            "cassandra": bool(self.cassandra_username),
            "cassandra_admin": bool(self.cassandra_admin_username),
        }
        if self.spark_external and not self.spark_master.startswith("spark://"):
            raise ValueError("SPARK_EXTERNAL=true needs SPARK_MASTER=spark://host:port of that cluster")
        for account, used in needed.items():
            if used and not (
                getattr(self, f"{account}_username") and getattr(self, f"{account}_password").get_secret_value()
            ):
                raise ValueError(f"{account.upper()}_USERNAME and {account.upper()}_PASSWORD are both required here")
        return self

    @field_validator("api_keys")
    @classmethod
    def _at_least_one_key(cls, keys: SecretStr) -> SecretStr:
        if not any(key.strip() for key in keys.get_secret_value().split(",")):
            raise ValueError("at least one key is required (comma-separated)")
        return keys

    @property
    def external_kinds(self) -> set[str]:
        """The kinds of server (as process-compose names them, `kafka-2` is a `kafka`) run elsewhere."""
        switches = {
            "kafka": self.kafka_external,
            "cassandra": self.cassandra_external,
            "mysql": self.mysql_external,
            "superset": self.superset_external,
            "spark-master": self.spark_external,
            "spark-worker": self.spark_external,
        }
        return {kind for kind, external in switches.items() if external}

    @property
    def state_path(self) -> Path:
        return self.state_dir if self.state_dir.is_absolute() else REPO_ROOT / self.state_dir

    @property
    def checkpoint_uri(self) -> str:
        return self.checkpoint_location or (self.state_path / "checkpoints").as_uri()

    @property
    def api_key_list(self) -> list[str]:
        return [key.strip() for key in self.api_keys.get_secret_value().split(",") if key.strip()]

    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"

    @property
    def superset_url(self) -> str:
        return f"http://{self.superset_host}:{self.superset_port}"

    @property
    def kafka_bootstrap(self) -> str:
        return self.kafka_bootstrap_servers or f"{self.kafka_host}:{self.kafka_port}"

    @property
    def kafka_voters(self) -> str:
        return self.kafka_quorum_voters or f"{self.kafka_node_id}@{self.kafka_host}:{self.kafka_controller_port}"

    @property
    def cassandra_nodes(self) -> list[str]:
        return [node.strip() for node in (self.cassandra_contact_points or self.cassandra_host).split(",")]

    @property
    def cassandra_replication_map(self) -> dict[str, str]:
        """The keyspace's replication, as CQL's map."""
        if not self.cassandra_replication:
            return {"class": "SimpleStrategy", "replication_factor": str(self.cassandra_replication_factor)}
        pairs = (pair.split(":") for pair in self.cassandra_replication.split(","))
        return {"class": "NetworkTopologyStrategy", **{dc.strip(): factor.strip() for dc, factor in pairs}}

    @property
    def cassandra_seed_list(self) -> str:  # exported as CASSANDRA_SEED_LIST
        return self.cassandra_seeds or self.cassandra_host


def seconds(interval: str) -> float:
    """A Spark interval of one unit ("24 hours", "2 minutes") in seconds; ValueError otherwise."""
    units = {"second": 1, "minute": 60, "hour": 3600, "day": 86_400, "week": 604_800}
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(second|minute|hour|day|week)s?\s*", interval, re.IGNORECASE)
    if not found:
        raise ValueError(f"{interval!r}: expected a number and a unit, e.g. 24 hours")
    return float(found[1]) * units[found[2].lower()]


@lru_cache
def get_settings() -> Settings:
    return Settings()


@lru_cache
def get_contract_settings() -> ContractSettings:
    return ContractSettings()


def export_lines(settings: Settings, names: list[str]) -> str:
    """Shell `export` lines for the named settings or their derived values (KAFKA_BOOTSTRAP,
    CASSANDRA_NODES, ...), secrets included: `eval` them; nothing reaches argv. STATE_DIR is
    given absolute, lists comma-separated."""
    lines = []
    for name in names:
        value = settings.state_path if name == "STATE_DIR" else getattr(settings, name.lower())
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        text = ",".join(value) if isinstance(value, list) else str(value)
        lines.append(f"export {name.upper()}={shlex.quote(text)}")
    return "\n".join(lines)


if __name__ == "__main__":
    # python -m pipeline.settings NAME ...: how each run.sh reads its settings when it starts,
    # so a changed .env reaches a process started again, supervised or not.
    try:
        print(export_lines(get_settings(), sys.argv[1:]))
    except (ValidationError, AttributeError) as error:
        sys.exit(f"pipeline.settings: {error}")
