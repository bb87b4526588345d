"""One Kafka producer for the process, awaited per request.

librdkafka batches and retries in its own threads; a poll thread runs the
delivery callbacks, and each request awaits one future that resolves when
every record it produced was acknowledged by all in-sync replicas (acks=all)
or failed. A broker that does not answer within message.timeout.ms fails the
request, so the API can answer 503 instead of hanging.
"""

import asyncio
import threading

from confluent_kafka import KafkaException, Producer

from pipeline.clients import librdkafka_config
from pipeline.settings import Settings


class KafkaUnavailable(Exception):
    """Kafka did not acknowledge the records in time; the client should retry."""


class _Delivery:
    """Counts the acknowledgements of one request's records.

    Called on the poll thread for each delivery report, and on the event loop
    for a record that could not even be queued, hence the lock.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, expected: int):
        self.loop, self.pending, self.error = loop, expected, None
        self.done = loop.create_future()
        self.lock = threading.Lock()

    def __call__(self, error, _message) -> None:
        with self.lock:
            self.error = self.error or error
            self.pending -= 1
            finished = self.pending == 0
        if finished:
            self.loop.call_soon_threadsafe(self._settle)

    def _settle(self) -> None:
        if not self.done.done():
            self.done.set_result(self.error)


def producer_config(settings: Settings) -> dict[str, object]:
    """The API's librdkafka settings; the benchmark's direct-to-Kafka ceiling uses the same."""
    return librdkafka_config(settings) | {
        "acks": "all",
        # Retries inside librdkafka without duplicates or reordering.
        "enable.idempotence": True,
        "message.timeout.ms": settings.kafka_delivery_timeout_ms,
        "linger.ms": 2,
        "compression.type": "lz4",
    }


class OrderProducer:
    def __init__(self, settings: Settings):
        self.topic = settings.orders_topic
        self.timeout = settings.kafka_delivery_timeout_ms / 1000
        self._producer = Producer(producer_config(settings))
        self._running = True
        self._poller = threading.Thread(target=self._poll, name="kafka-delivery", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while self._running:
            self._producer.poll(0.05)

    async def send(self, records: list[tuple[bytes, bytes]]) -> None:
        """Produce (key, value) records; return once all are acknowledged, else KafkaUnavailable."""
        delivery = _Delivery(asyncio.get_running_loop(), len(records))
        for key, value in records:
            try:
                self._producer.produce(self.topic, value=value, key=key, on_delivery=delivery)
            except (BufferError, KafkaException) as error:
                delivery(error, None)  # counted like a failed delivery
        try:
            # message.timeout.ms bounds every callback; the margin only guards against a stuck client.
            failure = await asyncio.wait_for(asyncio.shield(delivery.done), self.timeout + 1)
        except TimeoutError:
            failure = "no delivery report"
        if failure is not None:
            raise KafkaUnavailable(str(failure))

    def ready(self) -> bool:
        """True when a broker answers a metadata request for the orders topic within a second."""
        try:
            topic = self._producer.list_topics(self.topic, timeout=1.0).topics.get(self.topic)
        except KafkaException:
            return False
        return topic is not None and topic.error is None

    def close(self) -> None:
        """Deliver what is pending (bounded), then stop the poll thread."""
        self._producer.flush(self.timeout + 1)
        self._running = False
        self._poller.join()
