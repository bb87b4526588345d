import json
import uuid

from kafka.admin import KafkaAdminClient

from kafka import KafkaProducer
from pipeline.clients import kafka_python_config
from tests.integration.helpers import OrdersTopic


def test_orders_and_dlq_topics_exist_with_configured_partitions(settings):
    admin = KafkaAdminClient(**kafka_python_config(settings))
    try:
        topics = {
            t["name"]: len(t["partitions"]) for t in admin.describe_topics([settings.orders_topic, settings.dlq_topic])
        }
    finally:
        admin.close()
    assert topics == {settings.orders_topic: settings.orders_partitions, settings.dlq_topic: settings.orders_partitions}


def test_three_keyed_records_come_back_exactly(settings):
    topic = OrdersTopic(settings)
    sent = [(str(uuid.uuid4()).encode(), json.dumps({"probe": n}).encode()) for n in range(3)]
    producer = KafkaProducer(**kafka_python_config(settings), acks="all")
    for key, value in sent:
        producer.send(settings.orders_topic, key=key, value=value).get(timeout=30)
    producer.close()
    assert sorted(topic.since()) == sorted(sent)
