"""Clients of the pipeline's stores, configured from the settings in one place."""

from pathlib import Path

import pymysql
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from kafka.admin import KafkaAdminClient

from cassandra import ConsistencyLevel
from pipeline.settings import Settings


def mysql_socket(settings: Settings) -> Path:
    """The local MariaDB's unix socket (mysql/run.sh)."""
    return settings.state_path / "mysql" / "mysqld.sock"


def mysql_admin(settings: Settings, *, database: str | None = None, autocommit: bool = False) -> pymysql.Connection:
    """root, how the database, its schema and users are made: over the local MariaDB's unix
    socket, or over TCP when MYSQL_ADMIN_PASSWORD is set (compose's init job)."""
    password = settings.mysql_admin_password.get_secret_value()
    if password:
        return pymysql.connect(
            host=settings.mysql_host,
            port=settings.mysql_port,
            user="root",
            password=password,
            database=database,
            autocommit=autocommit,
            connect_timeout=5,
        )
    return pymysql.connect(
        unix_socket=str(mysql_socket(settings)),
        user="root",
        database=database,
        autocommit=autocommit,
        connect_timeout=5,
    )


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
    )


def cassandra_cluster(settings: Settings, nodes: list[str] | None = None, port: int | None = None) -> Cluster:
    """The Cassandra cluster of the settings (every contact point, the local data centre first),
    or, given `nodes`, reached through those. Reads and writes at LOCAL_QUORUM, as the job's:
    with a replication factor of 3, one node down changes no answer."""
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=settings.cassandra_local_dc)),
        consistency_level=ConsistencyLevel.LOCAL_QUORUM,
    )
    return Cluster(
        nodes or settings.cassandra_nodes,
        port=port or settings.cassandra_port,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=5,
    )


def kafka_admin(settings: Settings, bootstrap: str | None = None, **options: int) -> KafkaAdminClient:
    """An admin client of the settings' Kafka (every node of the bootstrap list), or of `bootstrap`."""
    return KafkaAdminClient(bootstrap_servers=bootstrap or settings.kafka_bootstrap, **options)
