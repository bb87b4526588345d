"""The running stack as the benchmark uses it: clients, the launcher, and waiting for the Spark job.

Every address and password comes from pipeline.settings (`.env`).
"""

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pymysql
from cassandra.cluster import Session
from confluent_kafka import Producer

from bench import HarnessError, orders
from bench.report import Every, say
from ingest_api.producer import producer_config
from pipeline.clients import cassandra_cluster, mysql_connection
from pipeline.settings import REPO_ROOT, Settings
from pipeline.stack.services import probe_error, services
from pipeline.stack.supervisor import log_file, pids

CATCH_UP_TIMEOUT = 900.0
# A service the launcher has just seen ready can miss one probe on a loaded host (the cluster
# topology's Spark UI, during the job's first batch): asked again for this long before it counts.
ANSWER_WAIT_S = 30.0
LAST_BATCH = "SELECT batch_id, input_rows, duration_ms FROM stream_progress ORDER BY recorded_at DESC LIMIT 1"
PRODUCT_ORDERS = "SELECT COALESCE(SUM(orders), 0) FROM product_sales_by_minute WHERE product_id = %s"


def not_running(settings: Settings) -> list[str]:
    """Each service that has no running process or does not answer its probe, with why."""
    problems, running = [], pids(settings)
    for service in services(settings):
        if service.name not in running:
            problems.append(f"{service.name} (not running)")
            continue
        deadline = time.monotonic() + ANSWER_WAIT_S
        while (error := probe_error(service, settings)) and time.monotonic() < deadline:
            time.sleep(1)
        if error:
            problems.append(f"{service.name} (not answering: {error})")
    return problems


def job_running(settings: Settings) -> bool:
    return "spark" in pids(settings)


def require_job(settings: Settings, waiting_for: str) -> None:
    """HarnessError unless the Spark job runs: waiting for it would only time out."""
    if not job_running(settings):
        raise HarnessError(f"the Spark job stopped while waiting for {waiting_for}; read {log_file(settings, 'spark')}")


def launcher(*args: str) -> None:
    """`python -m pipeline.stack ARGS`, as `make` runs it; HarnessError with its output if it fails."""
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.stack", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )
    if done.returncode:
        raise HarnessError(f"`python -m pipeline.stack {' '.join(args)}` failed:\n{done.stdout}{done.stderr}")


def spark_script(script: str, *args: str) -> list[str]:
    """The command that runs a Python script under spark-submit with the orders stream's settings."""
    return ["bash", "spark_jobs/run.sh", script, *args]


def mysql(settings: Settings) -> pymysql.Connection:
    """The pipeline's MySQL account, autocommit: every query sees the newest committed batch."""
    return mysql_connection(settings, autocommit=True)


def product_orders(connection: pymysql.Connection, product_id: str) -> int:
    """Orders of product_id the stream has committed to MySQL."""
    with connection.cursor() as cursor:
        cursor.execute(PRODUCT_ORDERS, (product_id,))
        (orders,) = cursor.fetchone() or (0,)
        return int(orders)


@contextmanager
def cassandra(settings: Settings) -> Iterator[Session]:
    cluster = cassandra_cluster(settings)
    try:
        yield cluster.connect(settings.cassandra_keyspace)
    finally:
        cluster.shutdown()


def kafka_producer(settings: Settings, **overrides: object) -> Producer:
    """A producer with the ingest API's own librdkafka settings (overrides only where the benchmark needs)."""
    return Producer({**producer_config(settings), **overrides})


def produce_all(
    producer: Producer, topic: str, records: list[tuple[bytes, bytes]], progress: Callable[[int], None] | None = None
) -> int:
    """Produce every (key, value) record and wait for all acknowledgements; how many failed."""
    failed = 0

    def delivered(error, _message) -> None:
        nonlocal failed
        failed += error is not None

    for produced, (key, value) in enumerate(records):
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=delivered)
                break
            except BufferError:  # librdkafka's queue is full: serve acknowledgements until there is room
                producer.poll(0.01)
        if progress:
            progress(produced)
    producer.flush()
    return failed


def wait_until_job_caught_up(settings: Settings, product_id: str) -> float:
    """Block until the Spark job has committed everything now in the orders topic; the seconds it took.

    One marker order goes to each partition; a micro-batch reads every
    partition as a contiguous range of offsets, so once MySQL counts all the
    markers, everything produced before them is committed too.
    """
    producer, topic = kafka_producer(settings), settings.orders_topic
    partitions = sorted(producer.list_topics(topic, timeout=10).topics[topic].partitions)
    for partition, (key, value) in zip(
        partitions, orders.records(orders.bodies(product_id, len(partitions))), strict=True
    ):
        producer.produce(topic, value=value, key=key, partition=partition)
    if producer.flush(30):
        raise HarnessError(f"Kafka did not acknowledge the catch-up markers ({product_id}) within 30 s")
    started, tick = time.monotonic(), Every(5)
    with mysql(settings) as connection:
        while product_orders(connection, product_id) < len(partitions):
            require_job(settings, "it to catch up")
            waited = time.monotonic() - started
            if waited > CATCH_UP_TIMEOUT:
                raise HarnessError(
                    f"the Spark job did not catch up with `{topic}` within "
                    f"{CATCH_UP_TIMEOUT:.0f} s; read {log_file(settings, 'spark')}"
                )
            if tick():
                with connection.cursor() as cursor:
                    cursor.execute(LAST_BATCH)
                    batch = cursor.fetchone()
                last = f"last batch {batch[0]}: {batch[1]} records in {batch[2] / 1000:.1f} s" if batch else "no batch"
                say(f"  waiting for the Spark job to catch up: {waited:.0f} s ({last})")
            time.sleep(0.2)
    return time.monotonic() - started
