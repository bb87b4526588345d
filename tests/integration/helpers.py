"""What integration tests share: running the launcher, connecting to the stores, and reading back Kafka."""

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager

from kafka import KafkaConsumer, TopicPartition
from pipeline.clients import cassandra_cluster, kafka_python_config, mysql_connection
from pipeline.settings import REPO_ROOT, Settings
from pipeline.stack.services import Service, services
from pipeline.stack.supervisor import pids


@contextmanager
def env_changed(**values: object):
    """.env with these settings changed, as a user edits it, put back afterwards."""
    env = REPO_ROOT / ".env"
    original = env.read_text()
    changed = original
    for name, value in values.items():
        changed = re.sub(rf"^{name}=.*$", f"{name}={value}", changed, flags=re.M)
    env.write_text(changed)
    try:
        yield
    finally:
        env.write_text(original)


def stack(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the launcher as `make` does, in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline.stack", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def make(*targets: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run make as a user types it: under `make test` too, without the parent make's
    "Entering/Leaving directory" lines around the output."""
    return subprocess.run(
        ["make", "--no-print-directory", *targets], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout
    )


@contextmanager
def cassandra_session(settings: Settings):
    cluster = cassandra_cluster(settings)
    try:
        yield cluster.connect(settings.cassandra_keyspace)
    finally:
        cluster.shutdown()


@contextmanager
def pipeline_mysql(settings: Settings):
    """The pipeline's MySQL account, autocommit: each query sees the newest committed batch."""
    connection = mysql_connection(settings, autocommit=True)
    try:
        yield connection
    finally:
        connection.close()


def service(settings: Settings, name: str) -> Service:
    return next(s for s in services(settings) if s.name == name)


def pid(settings: Settings, name: str) -> int | None:
    """The pid of the running process `name` of process-compose.yaml."""
    return pids(settings).get(name)


class OrdersTopic:
    """Marks the end of every partition of `orders` now; `since()` reads what came after."""

    def __init__(self, settings: Settings):
        self.consumer = KafkaConsumer(**kafka_python_config(settings), enable_auto_commit=False)
        self.partitions = [
            TopicPartition(settings.orders_topic, p)
            for p in sorted(self.consumer.partitions_for_topic(settings.orders_topic))
        ]
        self.start = self.consumer.end_offsets(self.partitions)

    def since(self) -> list[tuple[bytes, bytes]]:
        """(key, value) of every record produced after construction, in partition order."""
        end = self.consumer.end_offsets(self.partitions)
        self.consumer.assign(self.partitions)
        for partition in self.partitions:
            self.consumer.seek(partition, self.start[partition])
        records = []
        while any(self.consumer.position(p) < end[p] for p in self.partitions):
            for partition, batch in self.consumer.poll(timeout_ms=1000).items():
                records += [(r.key, r.value) for r in batch if r.offset < end[partition]]
        self.consumer.close()
        return records


Position = tuple[int, int]  # a record's partition and offset


class DeadLetters:
    """Marks the end of `orders.dlq` now; `wait_for()` reads the dead letters written after."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.consumer = KafkaConsumer(**kafka_python_config(settings), enable_auto_commit=False)
        topic = settings.dlq_topic
        partitions = [TopicPartition(topic, p) for p in self.consumer.partitions_for_topic(topic)]
        self.consumer.assign(partitions)
        for partition, offset in self.consumer.end_offsets(partitions).items():
            self.consumer.seek(partition, offset)

    def wait_for(
        self, count: int, wanted: Callable[[Position, bytes], bool], timeout: float = 300
    ) -> dict[Position, tuple[bytes, str]]:
        """(value, reason) of the dead letters of `orders` records wanted (by their partition and
        offset, and value), by position, once `count` of them have come or the timeout passed."""
        letters: dict[Position, tuple[bytes, str]] = {}
        deadline = time.monotonic() + timeout
        while len(letters) < count and time.monotonic() < deadline:
            for batch in self.consumer.poll(timeout_ms=1000).values():
                for record in batch:
                    headers = {key: value.decode() for key, value in record.headers}
                    position = (int(headers["dlq.source.partition"]), int(headers["dlq.source.offset"]))
                    value = record.value or b""
                    if headers["dlq.source.topic"] == self.settings.orders_topic and wanted(position, value):
                        letters[position] = (value, headers["dlq.reason"])
        self.consumer.close()
        return letters
