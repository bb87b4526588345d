"""What integration tests share: running the launcher, connecting to the stores, and reading back Kafka."""

import os
import subprocess
import sys
from contextlib import contextmanager

from kafka import KafkaConsumer, TopicPartition
from pipeline.clients import cassandra_cluster, kafka_python_config, mysql_connection
from pipeline.settings import REPO_ROOT, Settings
from pipeline.stack.services import Service, services
from pipeline.stack.supervisor import pids


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
