"""Topics, keyspace and database: created when missing, migrated, on every `make up`."""

import csv
import re
import time

from cassandra.cluster import Cluster, NoHostAvailable
from kafka.admin import ACL, ACLOperation, ACLPermissionType, NewTopic, ResourcePattern, ResourceType

from pipeline.clients import cassandra_admin_account, cassandra_cluster, kafka_admin, mysql_admin
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


def pipeline_acls(settings: Settings) -> list[ACL]:
    """What the pipeline's Kafka account may do: the API writes orders, the job reads them and
    writes dead letters (docs/security.md)."""
    grants = {
        settings.orders_topic: (ACLOperation.DESCRIBE, ACLOperation.READ, ACLOperation.WRITE),
        settings.dlq_topic: (ACLOperation.DESCRIBE, ACLOperation.WRITE),
    }
    return [
        ACL(
            f"User:{settings.kafka_username}",
            "*",
            operation,
            ACLPermissionType.ALLOW,
            ResourcePattern(ResourceType.TOPIC, topic),
        )
        for topic, operations in grants.items()
        for operation in operations
    ]


def apply_kafka(settings: Settings) -> str:
    """The topics, and with an admin account the pipeline's ACLs (adding one again changes nothing)."""
    created = f"created {create_topics(settings) or 'none (all exist)'}"
    if not settings.kafka_admin_username:
        return created
    admin = kafka_admin(settings, request_timeout_ms=10000)
    try:
        answer = admin.create_acls(pipeline_acls(settings))
    finally:
        admin.close()
    if answer["failed"]:
        raise RuntimeError(f"granting ACLs to User:{settings.kafka_username} failed: {answer['failed']}")
    return f"{created}; {len(answer['succeeded'])} ACLs for User:{settings.kafka_username}"


# How long a new cluster may take to make its default superuser after its client port opens.
DEFAULT_ROLE_WAIT_S = 60


def cassandra_admin(settings: Settings) -> Cluster:
    """CASSANDRA_ADMIN_USERNAME's cluster (or the pipeline's account's, when no admin is set);
    on a new cluster, the default superuser's password is replaced with CASSANDRA_ADMIN_PASSWORD first."""
    if not settings.cassandra_admin_username:
        return cassandra_cluster(settings)
    admin = (settings.cassandra_admin_username, settings.cassandra_admin_password.get_secret_value())
    account = cassandra_admin_account(settings, wait_s=DEFAULT_ROLE_WAIT_S)
    if account != admin:
        first = cassandra_cluster(settings, account=account)
        try:
            first.connect().execute(f"ALTER ROLE {identifier(admin[0])} WITH PASSWORD = %s", (admin[1],))
        finally:
            first.shutdown()
        until_signs_in(settings, admin)
    return cassandra_cluster(settings, account=admin)


def signs_in(settings: Settings, account: tuple[str, str] | None = None) -> bool:
    """Whether an account (the pipeline's, by default) signs in with its password."""
    cluster = cassandra_cluster(settings, account=account)
    try:
        cluster.connect()
        return True
    except NoHostAvailable:
        return False
    finally:
        cluster.shutdown()


# Each node keeps a role's password hash for credentials_validity (2 s by default) after
# ALTER ROLE changes it, so the new password can be refused for that long.
NEW_PASSWORD_WAIT_S = 30


def until_signs_in(settings: Settings, account: tuple[str, str] | None = None) -> None:
    role = account[0] if account else settings.cassandra_username
    deadline = time.monotonic() + NEW_PASSWORD_WAIT_S
    while not signs_in(settings, account):
        if time.monotonic() >= deadline:
            raise RuntimeError(f"cassandra: role {role!r} is refused its new password after {NEW_PASSWORD_WAIT_S} s")
        time.sleep(1)


def apply_cassandra(settings: Settings) -> str:
    """Create the keyspace, apply its migrations, and give the pipeline's account (when an
    admin made it) the least it needs; what was done."""
    keyspace = identifier(settings.cassandra_keyspace)
    replication = ", ".join(f"'{key}': '{value}'" for key, value in settings.cassandra_replication_map.items())
    cluster = cassandra_admin(settings)
    try:
        session = cluster.connect()
        session.execute(f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {{{replication}}}")
        if settings.cassandra_admin_username and settings.cassandra_username:
            role, password = identifier(settings.cassandra_username), settings.cassandra_password.get_secret_value()
            if not session.execute("SELECT role FROM system_auth.roles WHERE role = %s", (role,)).one():
                session.execute(f"CREATE ROLE {role} WITH LOGIN = true AND PASSWORD = %s", (password,))
            elif not signs_in(settings):  # .env's password changed since
                session.execute(f"ALTER ROLE {role} WITH PASSWORD = %s", (password,))
                until_signs_in(settings)
            session.execute(f"GRANT SELECT ON KEYSPACE {keyspace} TO {role}")
            session.execute(f"GRANT MODIFY ON KEYSPACE {keyspace} TO {role}")
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
