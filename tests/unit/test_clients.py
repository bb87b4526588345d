"""Client configuration from the settings: every client reaches Kafka, Cassandra and MySQL
the same way, and a setting that cannot work is named."""

from typing import Any

import pytest

from pipeline import clients
from pipeline.settings import Settings

REQUIRED: dict[str, Any] = {
    "mysql_password": "p",
    "mysql_readonly_password": "r",
    "api_keys": "k",
    "superset_admin_password": "a",
    "superset_secret_key": "s",
}


def settings(**values) -> Settings:
    return Settings(_env_file=None, **REQUIRED, **values)


@pytest.fixture
def ca(tmp_path):
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return str(path)


def test_plaintext_kafka_is_only_the_bootstrap_list():
    plain = settings(kafka_bootstrap_servers="a:9092,b:9092")
    assert clients.librdkafka_config(plain) == {"bootstrap.servers": "a:9092,b:9092", "security.protocol": "PLAINTEXT"}
    assert clients.spark_kafka_options(plain) == {
        "kafka.bootstrap.servers": "a:9092,b:9092",
        "kafka.security.protocol": "PLAINTEXT",
    }


def test_sasl_ssl_reaches_every_kafka_client_alike(ca):
    secure = settings(
        kafka_security_protocol="SASL_SSL",
        kafka_username="pipeline",
        kafka_password='pa"ss',
        kafka_ssl_ca_file=ca,
    )
    assert clients.librdkafka_config(secure) == {
        "bootstrap.servers": "127.0.0.1:9092",
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": ca,
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "pipeline",
        "sasl.password": 'pa"ss',
    }
    assert clients.kafka_python_config(secure) == {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "SASL_SSL",
        "ssl_cafile": ca,
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "pipeline",
        "sasl_plain_password": 'pa"ss',
    }
    spark = clients.spark_kafka_options(secure)
    assert spark["kafka.ssl.truststore.location"] == ca
    assert spark["kafka.ssl.truststore.type"] == "PEM"
    assert spark["kafka.sasl.jaas.config"] == (
        'org.apache.kafka.common.security.scram.ScramLoginModule required username="pipeline" password="pa\\"ss";'
    )


def test_a_missing_ca_file_is_named_with_its_setting():
    with pytest.raises(clients.ConfigError, match=r"^KAFKA_SSL_CA_FILE=nowhere/ca.pem: no such file$"):
        clients.librdkafka_config(settings(kafka_security_protocol="SSL", kafka_ssl_ca_file="nowhere/ca.pem"))
    with pytest.raises(clients.ConfigError, match=r"^MYSQL_SSL_CA_FILE="):
        clients.mysql_ssl(settings(mysql_ssl=True, mysql_ssl_ca_file="nowhere/ca.pem"))


def test_cassandra_account_and_tls_reach_the_connector_but_not_without_them(ca):
    assert clients.spark_cassandra_conf(settings()) == {}
    conf = clients.spark_cassandra_conf(
        settings(cassandra_username="pipeline", cassandra_password="pw", cassandra_ssl=True, cassandra_ssl_ca_file=ca)
    )
    assert conf["spark.cassandra.auth.username"] == "pipeline"
    assert conf["spark.cassandra.auth.password"] == "pw"
    assert conf["spark.cassandra.connection.ssl.enabled"] == "true"
    assert conf["spark.cassandra.connection.ssl.trustStore.type"] == "PKCS12"


def test_replication_per_data_centre():
    assert settings().cassandra_replication_map == {"class": "SimpleStrategy", "replication_factor": "1"}
    assert settings(cassandra_replication="dc1:3, us-east-1:2").cassandra_replication_map == {
        "class": "NetworkTopologyStrategy",
        "dc1": "3",
        "us-east-1": "2",
    }
    with pytest.raises(ValueError, match="data centre:factor"):
        settings(cassandra_replication="dc1=3")
