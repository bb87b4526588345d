"""`make down` then `make up` keeps every write and leaves no process behind.

It restarts the whole stack (the Spark job included); the test files after it
find it running again.
"""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from pipeline.clients import cassandra_cluster, kafka_python_config, mysql_connection
from pipeline.stack import processes
from pipeline.stack.services import services
from pipeline.stack.supervisor import pids
from tests.integration.helpers import stack


def write_everywhere(settings, marker: uuid.UUID):
    producer = KafkaProducer(**kafka_python_config(settings), acks="all")
    acked = producer.send(settings.orders_topic, key=str(marker).encode(), value=b'{"durability": true}').get(
        timeout=30
    )
    producer.close()

    cluster = cassandra_cluster(settings)
    cluster.connect(settings.cassandra_keyspace).execute(
        "INSERT INTO orders (order_id, total, created_at) VALUES (%s, %s, %s)",
        (marker, Decimal("12.34"), datetime.now(UTC)),
    )
    cluster.shutdown()

    with mysql_connection(settings) as connection, connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO stream_commits (query_name, batch_id) VALUES (%s, %s)", (f"durability-{marker}"[:64], 42)
        )
        connection.commit()
    return acked


def test_down_then_up_keeps_the_data_and_leaves_no_process(settings):
    marker = uuid.uuid4()
    acked = write_everywhere(settings, marker)
    running = pids(settings)

    stopped = stack("down")
    assert stopped.returncode == 0, stopped.stderr
    assert pids(settings) == {}, "the supervisor still runs"
    for service in services(settings):
        assert not processes.alive(running[service.name]), f"{service.name} pid {running[service.name]} survived"
        assert not processes.port_taken(service.host, service.port), f"{service.name} port still bound"

    started = stack("up")
    assert started.returncode == 0, started.stdout + started.stderr

    consumer = KafkaConsumer(**kafka_python_config(settings), enable_auto_commit=False)
    partition = TopicPartition(settings.orders_topic, acked.partition)
    consumer.assign([partition])
    consumer.seek(partition, acked.offset)
    records = consumer.poll(timeout_ms=10000, max_records=1).get(partition, [])
    consumer.close()
    assert [r.key for r in records] == [str(marker).encode()]

    cluster = cassandra_cluster(settings)
    session = cluster.connect(settings.cassandra_keyspace)
    row = session.execute("SELECT total FROM orders WHERE order_id = %s", (marker,)).one()
    session.execute("DELETE FROM orders WHERE order_id = %s", (marker,))
    cluster.shutdown()
    assert row is not None
    assert row.total == Decimal("12.34")

    with mysql_connection(settings) as connection, connection.cursor() as cursor:
        name = f"durability-{marker}"[:64]
        cursor.execute("SELECT batch_id FROM stream_commits WHERE query_name = %s", (name,))
        assert cursor.fetchall() == ((42,),)
        cursor.execute("DELETE FROM stream_commits WHERE query_name = %s", (name,))
        connection.commit()
