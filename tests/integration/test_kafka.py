import json
import uuid

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient


def test_orders_and_dlq_topics_exist_with_configured_partitions(settings):
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        topics = {t["name"]: len(t["partitions"]) for t in admin.describe_topics([settings.orders_topic, settings.dlq_topic])}
    finally:
        admin.close()
    assert topics == {settings.orders_topic: settings.orders_partitions, settings.dlq_topic: settings.orders_partitions}


def test_three_keyed_records_come_back_exactly(settings):
    sent = {str(uuid.uuid4()): {"probe": n} for n in range(3)}
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    acked = [
        producer.send(settings.orders_topic, key=key.encode(), value=json.dumps(value).encode()).get(timeout=30)
        for key, value in sent.items()
    ]
    producer.close()

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        partitions = {TopicPartition(settings.orders_topic, meta.partition) for meta in acked}
        consumer.assign(list(partitions))
        for meta in acked:
            consumer.seek(TopicPartition(settings.orders_topic, meta.partition), min(
                m.offset for m in acked if m.partition == meta.partition))
        end = consumer.end_offsets(list(partitions))
        received = []
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=1000).values():
                received += [(r.key.decode(), json.loads(r.value)) for r in records if r.key and r.key.decode() in sent]
    finally:
        consumer.close()
    assert sorted(received, key=lambda kv: kv[0]) == sorted(sent.items())
