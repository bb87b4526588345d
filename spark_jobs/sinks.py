"""Where each micro-batch goes: dead letters to Kafka, orders to Cassandra, windows to MySQL.

The order of the writes is what makes a replayed batch harmless. Kafka and
Cassandra are written first (Cassandra rows are upserts by key); the MySQL
transaction comes last and records the batch id with the window increments, so
after a crash the batch is either fully in MySQL and skipped on replay, or not
there at all and applied once.
"""

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pymysql
from confluent_kafka import Consumer, KafkaException, TopicPartition
from pyspark import inheritable_thread_target
from pyspark.sql import DataFrame, Row, SparkSession

from pipeline import retention
from pipeline.clients import librdkafka_config, mysql_connection, spark_kafka_options
from pipeline.settings import Settings
from spark_jobs import liveness, transforms

# The window tables by name, with their dimensions; each minute table has its rollups (transforms.ROLLUPS).
WINDOW_TABLES = {
    "sales_by_minute": ("source", "state", "payment_method", "currency"),
    "product_sales_by_minute": ("product_id",),
}


def add_windows(table: str, dimensions: tuple[str, ...]) -> str:
    """The upsert that adds a batch's increments to a window table."""
    columns = ("window_start", "window_end", *dimensions, "orders", "units", "revenue")
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
        "ON DUPLICATE KEY UPDATE orders = orders + VALUES(orders), units = units + VALUES(units), "
        "revenue = revenue + VALUES(revenue)"
    )


COMMITTED_BATCH = "SELECT batch_id, checkpoint_id FROM stream_commits WHERE query_name = %s FOR UPDATE"
COMMIT_BATCH = """
INSERT INTO stream_commits (query_name, batch_id, checkpoint_id) VALUES (%s, %s, %s)
ON DUPLICATE KEY UPDATE batch_id = VALUES(batch_id), checkpoint_id = VALUES(checkpoint_id)"""
RECORD_PROGRESS = """
INSERT INTO stream_progress (query_name, checkpoint_id, batch_id, input_rows, dead_letters, repeats,
                             rows_per_second, duration_ms, max_event_time, watermark, late_rows, consumer_lag)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"""
NEWEST_EVENT_TIME = "SELECT MAX(max_event_time) FROM stream_progress WHERE query_name = %s"


def write_cassandra(rows: DataFrame, keyspace: str, table: str) -> None:
    """Upserts rows into a Cassandra table with the connector (its settings in spark-defaults.conf)."""
    rows.write.format("org.apache.spark.sql.cassandra").mode("append").options(keyspace=keyspace, table=table).save()


class TopicEnd:
    """Where a topic ends now: how many offsets a batch that ended at `end` is behind it."""

    def __init__(self, settings: Settings):
        self.topic = settings.orders_topic
        # Never subscribes nor commits: the group id is only what librdkafka requires of a consumer.
        self.consumer = Consumer({**librdkafka_config(settings), "group.id": "orders_stream.lag"})

    def offsets_behind(self, end: dict[str, int]) -> int | None:
        """`end`: partition -> next offset, as Spark's offsets log has it; None when Kafka does not answer."""
        try:
            latest = {
                partition: self.consumer.get_watermark_offsets(TopicPartition(self.topic, int(partition)), timeout=2)
                for partition in end
            }
        except KafkaException:
            return None
        return sum(max(0, latest[partition][1] - offset) for partition, offset in end.items())


class BatchWriter:
    """Writes what a micro-batch produced (transforms.MicroBatch) to Kafka, Cassandra and MySQL."""

    def __init__(
        self,
        spark: SparkSession,
        settings: Settings,
        query_name: str,
        checkpoint_id: str,
        committed: int,
        batch_end: Callable[[int], dict[str, int]],
    ):
        """`committed`: the last batch of this checkpoint (Spark's query id) that MySQL holds, or -1;
        `batch_end`: a batch's end offsets by partition (the checkpoint's offsets log)."""
        self.spark, self.settings, self.query_name = spark, settings, query_name
        self.checkpoint_id, self.committed_batch, self.batch_end = checkpoint_id, committed, batch_end
        self.topic_end = TopicEnd(settings)
        self.next_purge = 0.0  # the first batch purges
        self.watchdog = liveness.BatchWatchdog(
            settings.stream_batch_timeout_seconds, probe=lambda: liveness.require_cassandra_session(spark)
        )
        with mysql_connection(settings) as connection, connection.cursor() as cursor:
            cursor.execute(NEWEST_EVENT_TIME, (query_name,))
            (newest,) = cursor.fetchone() or (None,)
        self.newest_event_time: datetime | None = newest and newest.replace(tzinfo=UTC)

    def already_committed(self, batch_id: int) -> bool:
        if batch_id <= self.committed_batch:
            print(f"batch {batch_id}: already committed to MySQL, skipped (replay after a restart)", flush=True)
            return True
        return False

    def write(self, batch_id: int, outputs: transforms.MicroBatch) -> None:
        with self.watchdog.batch():
            began = time.monotonic()
            # The orders come from a broadcast join that every write and window sum shares: computed once.
            outputs.orders.persist()
            try:
                self.write_all(batch_id, outputs, began)
            finally:
                outputs.orders.unpersist()

    def write_all(self, batch_id: int, outputs: transforms.MicroBatch, began: float) -> None:
        liveness.require_cassandra(self.spark, self.settings)
        # Spark jobs over the cached batch, run together: the first to need a partition computes
        # it (the Kafka read, the validation and the lookup) while the others wait for it, and
        # their scheduling gaps overlap, as does the building of the outputs not written yet
        # (MicroBatch builds each when first used). The small results come back in one job; the
        # dead letters, rare, wait for the summary to say there are some.
        with ThreadPoolExecutor(max_workers=3) as pool:

            def run(action: Callable[..., Any], *args: Any) -> Future:
                return pool.submit(inheritable_thread_target(action), *args)

            writes = [run(self.write_cassandra, outputs, table) for table in ("orders", "orders_by_time")]
            small = [outputs.summary, outputs.sales_by_minute, outputs.product_sales_by_minute]
            [summary], sales, product_sales = transforms.untag(transforms.tagged_union(small).collect(), small)
            if summary.dead_letters:
                writes.append(run(self.write_dead_letters, outputs.dead_letters))
            for write in writes:
                write.result()
        lag = self.topic_end.offsets_behind(self.batch_end(batch_id))
        seconds = time.monotonic() - began
        progress = (
            self.query_name,
            self.checkpoint_id,
            batch_id,
            summary.input_rows,
            summary.dead_letters,
            summary.repeats,
            summary.input_rows / seconds,
            int(seconds * 1000),
            summary.max_event_time,
            summary.watermark,
            summary.late_rows,
            lag,
        )
        if self.commit(batch_id, sales, product_sales, progress):
            newest = summary.max_event_time and summary.max_event_time.replace(tzinfo=UTC)
            if newest and (self.newest_event_time is None or newest > self.newest_event_time):
                self.newest_event_time = newest
            print(
                f"batch {batch_id}: {summary.input_rows} records, {summary.dead_letters} dead letters, "
                f"{summary.repeats} repeats, {summary.late_rows} late, {len(sales)} window rows, {lag} behind, "
                f"{seconds * 1000:.0f} ms; "
                f"newest event {summary.max_event_time}",
                flush=True,
            )
        self.committed_batch = batch_id
        if time.monotonic() >= self.next_purge:
            self.next_purge = time.monotonic() + self.settings.retention_interval_seconds
            self.purge_old_rows()

    def purge_old_rows(self) -> None:
        """Retention, between batches; a failure waits for the next interval rather than failing the stream."""
        try:
            deleted = retention.purge(self.settings)
        except pymysql.MySQLError as error:
            print(f"retention: failed, tried again in {self.settings.retention_interval_seconds:.0f} s: {error}")
            return
        print(f"retention: deleted {sum(deleted.values())} rows older than their *_KEEP_DAYS ({deleted})", flush=True)

    def write_dead_letters(self, dead_letters: DataFrame) -> None:
        (
            dead_letters.write.format("kafka")
            .options(**spark_kafka_options(self.settings))
            .option("topic", self.settings.dlq_topic)
            .save()
        )

    def write_cassandra(self, outputs: transforms.MicroBatch, table: str) -> None:
        """Writes the output of the table's name, built in the write's own thread."""
        write_cassandra(getattr(outputs, table), self.settings.cassandra_keyspace, table)

    def commit(self, batch_id: int, sales: list[Row], product_sales: list[Row], progress: tuple) -> bool:
        """The batch's window increments and their rollups, its id and its progress row in one transaction;
        False if already there."""
        with mysql_connection(self.settings) as connection, connection.cursor() as cursor:
            cursor.execute(COMMITTED_BATCH, (self.query_name,))
            row = cursor.fetchone()
            if row is not None and row[1] in ("", self.checkpoint_id) and row[0] >= batch_id:
                connection.rollback()
                return False
            for (minutes, dimensions), windows in zip(WINDOW_TABLES.items(), (sales, product_sales), strict=True):
                cursor.executemany(add_windows(minutes, dimensions), [tuple(r) for r in windows])
                for name, period in transforms.ROLLUPS.items():
                    rollup = minutes.replace("_minute", f"_{name}")
                    cursor.executemany(add_windows(rollup, dimensions), transforms.roll_up(windows, period))
            cursor.execute(COMMIT_BATCH, (self.query_name, batch_id, self.checkpoint_id))
            cursor.execute(RECORD_PROGRESS, progress)
            connection.commit()
        return True
