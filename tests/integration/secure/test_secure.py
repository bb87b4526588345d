"""Secure mode (SECURE=true): every link uses TLS and an account, and the pipeline works through them.

`make test-secure` starts the single-node stack with secure.env through
`python -m pipeline.stack apart SECURE=true` and runs these; `make test` runs
them through external servers (tests/external.sh).
"""

import random
import socket
import ssl
from pathlib import Path

import httpx
import pymysql
import pytest
from cassandra.cluster import Cluster, NoHostAvailable
from kafka.admin import (
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    KafkaAdminClient,
    NewTopic,
    ResourcePatternFilter,
    ResourceType,
)
from kafka.errors import KafkaError
from pydantic import SecretStr

from kafka import KafkaConsumer
from pipeline.clients import kafka_admin, kafka_python_config
from pipeline.stack import dashboard
from tests.integration.ground_truth import Run, assert_stored_exactly, post, sales_rows, wait_until_stored
from tests.integration.helpers import stack

TLS_OF_THIS_SESSION = (
    "SELECT VARIABLE_VALUE AS tls FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_version'"
)


def test_orders_go_through_tls_and_accounts_into_both_stores_and_onto_the_dashboard(
    settings, api, cassandra, mysql, window
):
    run = Run(1000)
    before = sales_rows(mysql, run)
    post(api, run, run.orders)
    post(api, run, random.sample(run.orders, 100))  # resent: counted once
    wait_until_stored(cassandra, mysql, run, window)
    assert_stored_exactly(cassandra, mysql, run, before, window)
    # Superset reads MySQL as the read-only user, over TLS, through its SQL Lab.
    with dashboard.SupersetClient(settings) as superset:
        [database] = superset.get("/api/v1/database/")["result"]
        answer = superset.http.post(
            "/api/v1/sqllab/execute/",
            json={"database_id": database["id"], "sql": TLS_OF_THIS_SESSION, "runAsync": False},
        )
        assert answer.status_code == 200, answer.text
        [row] = answer.json()["data"]
        assert row["tls"].startswith("TLS"), row


def tls_handshake(host: str, port: int, ca: str) -> str:
    """The TLS version a server's port speaks, its certificate checked against our CA for `host`."""
    context = ssl.create_default_context(cafile=ca)
    with (
        socket.create_connection((host, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        return tls.version() or ""


def test_kafka_and_cassandra_speak_only_tls_with_a_certificate_for_their_address(settings):
    assert tls_handshake(settings.kafka_host, settings.kafka_port, settings.kafka_ssl_ca_file).startswith("TLS")
    assert tls_handshake(settings.cassandra_host, settings.cassandra_port, settings.cassandra_ssl_ca_file)


def test_clients_without_tls_or_without_the_account_are_refused(settings):
    # Kafka: a plaintext client gets no metadata from the TLS listener.
    with pytest.raises(KafkaError):
        KafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=5000, api_version_auto_timeout_ms=5000
        )
    # Cassandra: TLS without an account, and no TLS at all.
    context = ssl.create_default_context(cafile=settings.cassandra_ssl_ca_file)
    for options in ({"ssl_context": context}, {}):
        cluster = Cluster([settings.cassandra_host], port=settings.cassandra_port, connect_timeout=5, **options)
        with pytest.raises(NoHostAvailable):
            cluster.connect()
        cluster.shutdown()
    # MySQL: the right password without TLS (PyMySQL uses TLS whenever a server offers it, unless told not to).
    with pytest.raises(pymysql.err.OperationalError) as refused:
        pymysql.connect(
            host=settings.mysql_host,
            port=settings.mysql_port,
            user=settings.mysql_user,
            password=settings.mysql_password.get_secret_value(),
            connect_timeout=5,
            ssl_disabled=True,
        )
    assert refused.value.args[0] == 1045  # MariaDB says "access denied" to a client without TLS


def test_the_pipelines_kafka_account_may_use_its_two_topics_and_nothing_else(settings):
    admin = kafka_admin(settings)
    everything = ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY)
    principal = f"User:{settings.kafka_username}"
    acls, _ = admin.describe_acls(ACLFilter(principal, "*", ACLOperation.ANY, ACLPermissionType.ANY, everything))
    admin.close()
    assert {(acl.resource_pattern.resource_name, acl.operation.name) for acl in acls} == {
        (settings.orders_topic, "DESCRIBE"),
        (settings.orders_topic, "READ"),
        (settings.orders_topic, "WRITE"),
        (settings.dlq_topic, "DESCRIBE"),
        (settings.dlq_topic, "WRITE"),
    }
    pipeline = KafkaAdminClient(**kafka_python_config(settings))
    try:
        with pytest.raises(KafkaError, match="Authorization"):
            pipeline.create_topics([NewTopic("not-granted", 1, 1)])
    finally:
        pipeline.close()
    # The dead letters are for operators to read, not the pipeline.
    consumer = KafkaConsumer(settings.dlq_topic, **kafka_python_config(settings), consumer_timeout_ms=5000)
    try:
        with pytest.raises(KafkaError, match="Authorization"):
            list(consumer)
    finally:
        consumer.close()


NOT_THE_CA = "the servers' certificate"


@pytest.mark.parametrize(
    ("setting", "kind", "named"),
    [
        ({"KAFKA_PASSWORD": "wrong"}, "kafka", "KAFKA_PASSWORD"),
        ({"KAFKA_SSL_CA_FILE": "missing.pem"}, "kafka", "KAFKA_SSL_CA_FILE=missing.pem: no such file"),
        ({"KAFKA_SSL_CA_FILE": NOT_THE_CA}, "kafka", "KAFKA_SSL_CA_FILE"),  # not the CA
        ({"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}, "kafka", "KAFKA_SECURITY_PROTOCOL"),
        ({"CASSANDRA_ADMIN_USERNAME": "", "CASSANDRA_PASSWORD": "wrong"}, "cassandra", "CASSANDRA_PASSWORD"),
        ({"CASSANDRA_SSL": "false"}, "cassandra", "CASSANDRA_SSL"),
        ({"CASSANDRA_SSL_CA_FILE": NOT_THE_CA}, "cassandra", "CASSANDRA_SSL_CA_FILE"),
        ({"MYSQL_SSL": "false"}, "mysql", "MYSQL_SSL"),
        ({"MYSQL_SSL_CA_FILE": NOT_THE_CA}, "mysql", "MYSQL_SSL_CA_FILE"),
    ],
    ids=lambda value: "+".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else None,
)
def test_a_wrong_setting_gets_one_line_naming_the_service_and_the_setting(settings, setting, kind, named):
    """What `make up` and `python -m pipeline.stack probe` say: one line, at once, no traceback."""
    # A certificate the CA signed, given where the CA belongs.
    server_certificate = str(Path(settings.kafka_ssl_ca_file).with_name("server.pem"))
    setting = {name: server_certificate if value == NOT_THE_CA else value for name, value in setting.items()}
    checked = stack("probe", kind, env=setting, timeout=60)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    lines = checked.stderr.strip().splitlines()
    assert len(lines) == 1, checked.stderr
    assert lines[0].startswith(f"error: {kind}"), lines[0]
    assert named in lines[0], lines[0]


def secrets(settings) -> dict[str, str]:
    values = {name: getattr(settings, name) for name in type(settings).model_fields}
    return {name: value.get_secret_value() for name, value in values.items() if isinstance(value, SecretStr) and value}


def test_no_secret_in_any_log_file_process_argument_or_the_spark_ui(settings):
    hidden = secrets(settings)
    assert {"kafka_password", "cassandra_password", "mysql_password", "tls_keystore_password"} <= set(hidden)
    found = []
    for log in (settings.state_path / "log").glob("*.log"):
        text = log.read_text(errors="replace")
        found += [f"{name} in {log.name}" for name, secret in hidden.items() if secret in text]
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            arguments = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        found += [
            f"{name} in the arguments of pid {cmdline.parent.name}" for name, s in hidden.items() if s in arguments
        ]
    ui = f"http://{settings.spark_local_ip}:{settings.spark_ui_port}/api/v1/applications"
    app = httpx.get(ui, timeout=10).json()[0]["id"]
    environment = httpx.get(f"{ui}/{app}/environment", timeout=10).text
    assert "spark.cassandra.auth.password" in environment  # it is there, redacted
    found += [f"{name} in the Spark UI's environment" for name, secret in hidden.items() if secret in environment]
    assert not found
