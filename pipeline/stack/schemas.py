"""Topics, keyspace and database: created when missing, migrated, on every `make up`."""

import csv
import re

from kafka.admin import NewTopic

from pipeline.clients import cassandra_cluster, kafka_admin, mysql_admin
from pipeline.settings import REPO_ROOT, Settings
from pipeline.stack import migrations

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,47}")


def identifier(name: str) -> str:
    """DDL cannot bind names as parameters, so names from .env are checked instead."""
    if not IDENTIFIER.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid keyspace or database name")
    return name


def create_topics(settings: Settings) -> list[str]:
    """Create the missing topics; the names of those created."""
    admin = kafka_admin(settings, request_timeout_ms=10000)
    try:
        missing = [name for name in (settings.orders_topic, settings.dlq_topic) if name not in set(admin.list_topics())]
        if missing:
            # acks=all then waits for min.insync.replicas copies: one node of three can be lost.
            config = {"min.insync.replicas": str(settings.kafka_min_insync_replicas)}
            admin.create_topics(
                [
                    NewTopic(name, settings.orders_partitions, settings.kafka_replication_factor, topic_configs=config)
                    for name in missing
                ]
            )
        return missing
    finally:
        admin.close()


def apply_cassandra(settings: Settings) -> str:
    """Create the keyspace and apply its migrations; what was done."""
    keyspace = identifier(settings.cassandra_keyspace)
    replication = int(settings.cassandra_replication_factor)
    cluster = cassandra_cluster(settings)
    try:
        session = cluster.connect()
        session.execute(
            f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
            f"{{'class': 'SimpleStrategy', 'replication_factor': {replication}}}"
        )
        session.set_keyspace(keyspace)
        return migrations.migrate_cassandra(session)
    finally:
        cluster.shutdown()


LOAD_CUSTOMERS = """
INSERT INTO customers (customer_id, name, state, country, segment) VALUES (%s, %s, %s, %s, %s)
ON DUPLICATE KEY UPDATE name = VALUES(name), state = VALUES(state), country = VALUES(country),
                        segment = VALUES(segment)"""


def customers() -> list[tuple[str, ...]]:
    """The customers dimension shipped as reference data in mysql/customers.csv."""
    with (REPO_ROOT / "mysql" / "customers.csv").open(newline="") as rows:
        reader = csv.reader(rows)
        next(reader)
        return [tuple(row) for row in reader]


def apply_mysql(settings: Settings) -> str:
    """Create the database, apply its migrations and mysql/users.sql, load the customers; what was done."""
    database = identifier(settings.mysql_database)
    accounts = {
        "user": settings.mysql_user,
        "password": settings.mysql_password.get_secret_value(),
        "readonly_user": settings.mysql_readonly_user,
        "readonly_password": settings.mysql_readonly_password.get_secret_value(),
    }
    users = migrations.statements((REPO_ROOT / "mysql" / "users.sql").read_text().replace("{database}", database))
    reference = customers()
    with mysql_admin(settings, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4")
    revision = migrations.migrate_mysql(settings, database)
    with mysql_admin(settings, database=database, autocommit=True) as connection, connection.cursor() as cursor:
        for statement in users:
            cursor.execute(statement, accounts)
        cursor.executemany(LOAD_CUSTOMERS, reference)
    return f"{revision}, {len(users)} user statements applied, {len(reference)} customers loaded"
