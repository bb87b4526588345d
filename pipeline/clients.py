"""Every client's configuration, built from the settings in one place.

Kafka, Cassandra and MySQL are reached the same way by the API, the Spark job,
the admin steps, the load generator, the benches and the tests: plaintext or
TLS, with or without an account, as the settings say.
"""

import ssl
import time
from pathlib import Path
from typing import Any

import pymysql
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from kafka.admin import KafkaAdminClient

from cassandra import AuthenticationFailed, ConsistencyLevel
from pipeline.settings import REPO_ROOT, Settings


class ConfigError(ValueError):
    """A setting that cannot work, named with its value, e.g. a CA file that does not exist."""


def ca_file(settings: Settings, name: str) -> str | None:
    """The file of a *_SSL_CA_FILE setting (relative: in the project), checked; None when empty."""
    value = getattr(settings, name)
    if not value:
        return None
    path = REPO_ROOT / value
    if not path.is_file():
        raise ConfigError(f"{name.upper()}={value}: no such file")
    return str(path)


def jaas_config(settings: Settings) -> str:
    module = "plain.PlainLoginModule" if settings.kafka_sasl_mechanism == "PLAIN" else "scram.ScramLoginModule"
    password = settings.kafka_password.get_secret_value().replace("\\", "\\\\").replace('"', '\\"')
    return (
        f"org.apache.kafka.common.security.{module} required "
        f'username="{settings.kafka_username}" password="{password}";'
    )


def librdkafka_config(settings: Settings) -> dict[str, str]:
    """How to reach Kafka, in librdkafka's names (confluent-kafka: the API's producer, the
    benchmark's direct producer); the other clients' configs are made from this one."""
    config = {"bootstrap.servers": settings.kafka_bootstrap, "security.protocol": settings.kafka_security_protocol}
    if settings.kafka_security_protocol != "PLAINTEXT":
        ca = ca_file(settings, "kafka_ssl_ca_file")
        if ca:
            config["ssl.ca.location"] = ca
    if settings.kafka_security_protocol == "SASL_SSL":
        config |= {
            "sasl.mechanism": settings.kafka_sasl_mechanism,
            "sasl.username": settings.kafka_username,
            "sasl.password": settings.kafka_password.get_secret_value(),
        }
    return config


def kafka_python_config(settings: Settings) -> dict[str, Any]:
    """For kafka-python (the admin steps and the tests): the same settings, its keyword names."""
    config = librdkafka_config(settings)
    options: dict[str, Any] = {
        "bootstrap_servers": config["bootstrap.servers"],
        "security_protocol": config["security.protocol"],
    }
    if "ssl.ca.location" in config:
        options["ssl_cafile"] = config["ssl.ca.location"]
    if "sasl.mechanism" in config:
        options |= {
            "sasl_mechanism": config["sasl.mechanism"],
            "sasl_plain_username": config["sasl.username"],
            "sasl_plain_password": config["sasl.password"],
        }
    return options


def spark_kafka_options(settings: Settings) -> dict[str, str]:
    """For Spark's Kafka source and sink (the Java client, `kafka.`-prefixed options).
    Spark's UI shows none of them: the JAAS line holds "password", which it redacts."""
    config = librdkafka_config(settings)
    options = {
        "kafka.bootstrap.servers": config["bootstrap.servers"],
        "kafka.security.protocol": config["security.protocol"],
    }
    if "ssl.ca.location" in config:
        options |= {"kafka.ssl.truststore.type": "PEM", "kafka.ssl.truststore.location": config["ssl.ca.location"]}
    if "sasl.mechanism" in config:
        options |= {"kafka.sasl.mechanism": config["sasl.mechanism"], "kafka.sasl.jaas.config": jaas_config(settings)}
    return options


def kafka_admin(settings: Settings, **options: int) -> KafkaAdminClient:
    """An admin client of the settings' Kafka (every node of the bootstrap list), signed in as
    KAFKA_ADMIN_USERNAME when it is set."""
    if settings.kafka_admin_username:
        admin = {"kafka_username": settings.kafka_admin_username, "kafka_password": settings.kafka_admin_password}
        settings = settings.model_copy(update=admin)
    return KafkaAdminClient(**kafka_python_config(settings), **options)


def mysql_ssl(settings: Settings) -> dict[str, Any]:
    """PyMySQL's TLS arguments: the server's certificate and name checked against the CA, or
    no TLS at all (PyMySQL would otherwise use it unchecked whenever a server offers it)."""
    if not settings.mysql_ssl:
        return {"ssl_disabled": True}
    return {"ssl": ssl.create_default_context(cafile=ca_file(settings, "mysql_ssl_ca_file"))}


def mysql_socket(settings: Settings) -> Path:
    """The local MariaDB's unix socket (mysql/run.sh)."""
    return settings.state_path / "mysql" / "mysqld.sock"


def mysql_admin(settings: Settings, *, database: str | None = None, autocommit: bool = False) -> pymysql.Connection:
    """MYSQL_ADMIN_USER, how the database, its schema and users are made: over TCP when
    MYSQL_ADMIN_PASSWORD is set (compose's init job, an external MySQL), else over the
    local MariaDB's unix socket."""
    password = settings.mysql_admin_password.get_secret_value()
    if password:
        return pymysql.connect(
            host=settings.mysql_host,
            port=settings.mysql_port,
            user=settings.mysql_admin_user,
            password=password,
            database=database,
            autocommit=autocommit,
            connect_timeout=5,
            **mysql_ssl(settings),
        )
    return pymysql.connect(
        unix_socket=str(mysql_socket(settings)),
        user=settings.mysql_admin_user,
        database=database,
        autocommit=autocommit,
        connect_timeout=5,
    )


# TIMESTAMP columns (stream_progress.recorded_at) read in UTC, as every DATETIME is written,
# whatever time zone a managed server defaults to.
MYSQL_SESSION_UTC = "SET time_zone = '+00:00'"


def mysql_connection(settings: Settings, *, autocommit: bool = False) -> pymysql.Connection:
    """The pipeline's own MySQL account, in its database."""
    return pymysql.connect(
        host=settings.mysql_host,
        port=settings.mysql_port,
        user=settings.mysql_user,
        password=settings.mysql_password.get_secret_value(),
        database=settings.mysql_database,
        autocommit=autocommit,
        connect_timeout=10,
        init_command=MYSQL_SESSION_UTC,
        **mysql_ssl(settings),
    )


def cassandra_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if not settings.cassandra_ssl:
        return None
    return ssl.create_default_context(cafile=ca_file(settings, "cassandra_ssl_ca_file"))


def cassandra_cluster(
    settings: Settings, nodes: list[str] | None = None, port: int | None = None, account: tuple[str, str] | None = None
) -> Cluster:
    """The Cassandra cluster of the settings (every contact point, the local data centre first),
    or, given `nodes`, reached through those; as the pipeline's account, or `account`. Reads and
    writes at LOCAL_QUORUM, as the job's: with a replication factor of 3, one node down changes
    no answer."""
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=settings.cassandra_local_dc)),
        consistency_level=ConsistencyLevel.LOCAL_QUORUM,
    )
    username, password = account or (settings.cassandra_username, settings.cassandra_password.get_secret_value())
    return Cluster(
        nodes or settings.cassandra_nodes,
        port=port or settings.cassandra_port,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=5,
        auth_provider=PlainTextAuthProvider(username, password) if username else None,
        ssl_context=cassandra_ssl_context(settings),
    )


# Cassandra's default superuser on a new cluster with authentication on; `make up` replaces
# its password with CASSANDRA_ADMIN_PASSWORD.
DEFAULT_SUPERUSER = ("cassandra", "cassandra")


def cassandra_admin_account(
    settings: Settings, nodes: list[str] | None = None, port: int | None = None, wait_s: float = 0
) -> tuple[str, str]:
    """The admin account that signs in: CASSANDRA_ADMIN_USERNAME's, or, on a new cluster, the
    default superuser's (when the admin is that role); else the sign-in's error.

    A new node opens its client port before it has made the default superuser (a task it runs
    after joining the ring, again 10 s later if the ring was not ready): refusals are retried
    for up to `wait_s` seconds while the default superuser is one of the candidates."""
    admin = (settings.cassandra_admin_username, settings.cassandra_admin_password.get_secret_value())
    candidates = (admin, DEFAULT_SUPERUSER) if admin[0] == DEFAULT_SUPERUSER[0] else (admin,)
    deadline = time.monotonic() + (wait_s if DEFAULT_SUPERUSER in candidates else 0)
    while True:
        refusal: NoHostAvailable | None = None
        for account in candidates:
            cluster = cassandra_cluster(settings, nodes, port, account=account)
            try:
                cluster.connect()
                return account
            except NoHostAvailable as error:
                if not all(isinstance(reason, AuthenticationFailed) for reason in error.errors.values()):
                    raise
                refusal = error
            finally:
                cluster.shutdown()
        assert refusal is not None
        if time.monotonic() >= deadline:
            raise refusal
        time.sleep(2)


# The Cassandra connector trusts a Java trust store, not a PEM file: spark_jobs/run.sh makes one
# from CASSANDRA_SSL_CA_FILE with keytool, locked with TLS_KEYSTORE_PASSWORD.


def spark_truststore(settings: Settings) -> Path:
    return settings.state_path / "spark" / "cassandra-truststore.p12"


def spark_cassandra_conf(settings: Settings) -> dict[str, bool | float | int | str | None]:
    """The Cassandra connector's account and TLS, given to the job's session, not to
    spark-submit's arguments (which `ps` shows); Spark's UI redacts the password."""
    conf: dict[str, bool | float | int | str | None] = {}
    if settings.cassandra_username:
        conf |= {
            "spark.cassandra.auth.username": settings.cassandra_username,
            "spark.cassandra.auth.password": settings.cassandra_password.get_secret_value(),
        }
    if settings.cassandra_ssl:
        conf["spark.cassandra.connection.ssl.enabled"] = "true"
        if ca_file(settings, "cassandra_ssl_ca_file"):
            conf |= {
                "spark.cassandra.connection.ssl.trustStore.path": str(spark_truststore(settings)),
                "spark.cassandra.connection.ssl.trustStore.type": "PKCS12",
                "spark.cassandra.connection.ssl.trustStore.password": settings.tls_keystore_password.get_secret_value(),
            }
    return conf
