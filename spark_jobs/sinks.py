"""Where each micro-batch goes: dead letters to Kafka, orders to Cassandra, windows to MySQL.

The order of the writes is what makes a replayed batch harmless. Kafka and
Cassandra are written first (Cassandra rows are upserts by key); the MySQL
transaction comes last and records the batch id with the window increments, so
after a crash the batch is either fully in MySQL and skipped on replay, or not
there at all and applied once.
"""

import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC

import pymysql
from py4j.protocol import Py4JJavaError
from pyspark import inheritable_thread_target
from pyspark.sql import DataFrame, SparkSession

from pipeline.settings import Settings
from spark_jobs import transforms

ADD_SALES = """
INSERT INTO sales_by_minute
  (window_start, window_end, source, state, payment_method, currency, orders, units, revenue)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON DUPLICATE KEY UPDATE
  orders = orders + VALUES(orders), units = units + VALUES(units), revenue = revenue + VALUES(revenue)"""
ADD_PRODUCT_SALES = """
INSERT INTO product_sales_by_minute (window_start, window_end, product_id, orders, units, revenue)
VALUES (%s, %s, %s, %s, %s, %s)
ON DUPLICATE KEY UPDATE
  orders = orders + VALUES(orders), units = units + VALUES(units), revenue = revenue + VALUES(revenue)"""
COMMITTED_BATCH = "SELECT batch_id FROM stream_commits WHERE query_name = %s"
COMMIT_BATCH = """
INSERT INTO stream_commits (query_name, batch_id) VALUES (%s, %s)
ON DUPLICATE KEY UPDATE batch_id = VALUES(batch_id)"""
RECORD_PROGRESS = """
INSERT INTO stream_progress (query_name, batch_id, input_rows, dead_letters, rows_per_second, duration_ms,
                             max_event_time, watermark, late_rows)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"""
NEWEST_EVENT_TIME = "SELECT MAX(max_event_time) FROM stream_progress WHERE query_name = %s"
# A healthy refresh takes well under a second here; one that has not answered in this long never will.
SCHEMA_REFRESH_TIMEOUT_S = 20


def mysql_connection(settings: Settings) -> pymysql.Connection:
    return pymysql.connect(
        host=settings.mysql_host,
        port=settings.mysql_port,
        user=settings.mysql_user,
        password=settings.mysql_password.get_secret_value(),
        database=settings.mysql_database,
        autocommit=False,
        connect_timeout=10,
    )


class BatchWriter:
    """The foreachBatch function of the orders stream."""

    def __init__(self, spark: SparkSession, settings: Settings, query_name: str):
        self.spark, self.settings, self.query_name = spark, settings, query_name
        self.customers: DataFrame | None = None
        self.customers_loaded_at = 0.0
        self.running_since: float | None = None  # monotonic start of the batch being written
        with mysql_connection(settings) as connection, connection.cursor() as cursor:
            cursor.execute(NEWEST_EVENT_TIME, (query_name,))
            self.newest_event_time = cursor.fetchone()[0]
            cursor.execute(COMMITTED_BATCH, (query_name,))
            row = cursor.fetchone()
        # Read once: this writer commits every later batch itself (commit() checks again under a lock).
        self.committed_batch = -1 if row is None else row[0]

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        self.running_since = began = time.monotonic()
        try:
            self.write_once(batch, batch_id, began)
        finally:
            self.running_since = None

    def write_once(self, batch: DataFrame, batch_id: int, began: float) -> None:
        if batch_id <= self.committed_batch:
            print(f"batch {batch_id}: already committed to MySQL, skipped (replay after a restart)", flush=True)
            return
        # The batch runs the stateful dedup and the enrichment a broadcast join, so
        # both are computed once and shared by every write.
        orders = transforms.enrich(transforms.valid_orders(batch.persist()), self.customer_states()).persist()
        try:
            self.write(batch, orders, batch_id, began)
        finally:
            orders.unpersist()
            batch.unpersist()

    def write(self, batch: DataFrame, orders: DataFrame, batch_id: int, began: float) -> None:
        newest_before = self.newest_event_time and self.newest_event_time.replace(tzinfo=UTC)
        window = self.settings.window_duration
        self.require_cassandra()
        # Independent Spark jobs over the cached batch, run together: the first to need a
        # partition computes it (the Kafka read, the validation and the dedup) while the others
        # wait for it, and their scheduling gaps overlap. The dead letters, rare, wait for the
        # summary to say there are some.
        with ThreadPoolExecutor(max_workers=5) as pool:

            def run(action, *args):
                return pool.submit(inheritable_thread_target(action), *args)

            writes = [
                run(self.write_cassandra, orders, "orders"),
                run(self.write_cassandra, transforms.by_time(orders), "orders_by_time"),
            ]
            summary = run(lambda: transforms.batch_summary(batch, newest_before, self.settings.watermark_delay).first())
            sales = run(lambda: transforms.sales_by_minute(orders, window).collect())
            product_sales = run(lambda: transforms.product_sales_by_minute(orders, window).collect())
            summary = summary.result()
            if summary.dead_letters:
                writes.append(run(self.write_dead_letters, transforms.dead_letters(batch)))
            sales, product_sales = sales.result(), product_sales.result()
            for write in writes:
                write.result()
        seconds = time.monotonic() - began
        progress = (
            self.query_name,
            batch_id,
            summary.input_rows,
            summary.dead_letters,
            summary.input_rows / seconds,
            int(seconds * 1000),
            summary.max_event_time,
            summary.watermark,
            summary.late_rows,
        )
        if self.commit(batch_id, sales, product_sales, progress):
            if summary.max_event_time and (
                self.newest_event_time is None or summary.max_event_time > self.newest_event_time
            ):
                self.newest_event_time = summary.max_event_time
            print(
                f"batch {batch_id}: {summary.input_rows} records, {summary.dead_letters} dead letters, "
                f"{summary.late_rows} late, {len(sales)} window rows, {seconds * 1000:.0f} ms; "
                f"newest event {summary.max_event_time}",
                flush=True,
            )
        self.committed_batch = batch_id

    def customer_states(self) -> DataFrame:
        """The customers dimension, re-read from MySQL every CUSTOMERS_REFRESH_SECONDS."""
        if (
            self.customers is None
            or time.monotonic() - self.customers_loaded_at > self.settings.customers_refresh_seconds
        ):
            with mysql_connection(self.settings) as connection, connection.cursor() as cursor:
                cursor.execute("SELECT customer_id, state FROM customers")
                rows = cursor.fetchall()
            # Cached: otherwise every batch's broadcast join rebuilt the table from
            # the Python rows, a Spark job with Python workers (~0.6 s a batch here).
            customers = self.spark.createDataFrame(rows, "customer_id int, state string").cache()
            customers.count()
            if self.customers is not None:
                self.customers.unpersist()
            self.customers, self.customers_loaded_at = customers, time.monotonic()
        return self.customers

    def write_dead_letters(self, dead_letters: DataFrame) -> None:
        (
            dead_letters.write.format("kafka")
            .option("kafka.bootstrap.servers", self.settings.kafka_bootstrap)
            .option("topic", self.settings.dlq_topic)
            .save()
        )

    def require_cassandra(self) -> None:
        """Fail the batch at once when Cassandra refuses connections; restart the job when the
        connector's Cassandra session can no longer refresh the schema.

        Every Cassandra write makes the connector refresh the driver's schema metadata first.
        Once a refresh has failed (Cassandra away, or back before the driver reconnected), the
        session never finishes another: java-driver 4.18 and 4.19 leave the failed refresh in
        place (scylladb/java-driver#841), and the connector keeps the session for the JVM's
        lifetime, so every later write would wait forever. This refresh is bounded instead; when
        it fails, the job exits with EX_TEMPFAIL and spark_jobs/run.sh starts it again, with a
        new session, from the checkpoint.
        """
        address = (self.settings.cassandra_host, self.settings.cassandra_port)
        try:
            socket.create_connection(address, timeout=5).close()
        except OSError as error:
            raise ConnectionError(f"cassandra: not reachable at {address[0]}:{address[1]} ({error})") from None
        jvm = self.spark._jvm
        try:
            # The session the connector's writes use: the same connection settings find it in its cache.
            session = jvm.com.datastax.spark.connector.cql.CassandraConnector.apply(
                self.spark.sparkContext.getConf()._jconf
            ).openSession()
        except Py4JJavaError as error:
            raise ConnectionError(f"cassandra: {error.java_exception}") from None
        try:
            (
                session.refreshSchemaAsync()
                .toCompletableFuture()
                .get(SCHEMA_REFRESH_TIMEOUT_S, jvm.java.util.concurrent.TimeUnit.SECONDS)
            )
        except Py4JJavaError as error:
            timed_out = error.java_exception.getClass().getName() == "java.util.concurrent.TimeoutException"
            reason = f"no answer in {SCHEMA_REFRESH_TIMEOUT_S} s" if timed_out else str(error.java_exception)
            print(
                f"{self.query_name}: Cassandra's schema refresh failed ({reason}); this JVM's Cassandra session "
                "cannot recover, so the job exits for spark_jobs/run.sh to start it again",
                flush=True,
            )
            os._exit(os.EX_TEMPFAIL)
        finally:
            session.close()

    def write_cassandra(self, rows: DataFrame, table: str) -> None:
        (
            rows.write.format("org.apache.spark.sql.cassandra")
            .mode("append")
            .options(keyspace=self.settings.cassandra_keyspace, table=table)
            .save()
        )

    def commit(self, batch_id: int, sales: list, product_sales: list, progress: tuple) -> bool:
        """The batch's window increments, its id and its progress row in one transaction; False if already there."""
        with mysql_connection(self.settings) as connection, connection.cursor() as cursor:
            cursor.execute(COMMITTED_BATCH + " FOR UPDATE", (self.query_name,))
            row = cursor.fetchone()
            if row is not None and row[0] >= batch_id:
                connection.rollback()
                return False
            cursor.executemany(ADD_SALES, [tuple(r) for r in sales])
            cursor.executemany(ADD_PRODUCT_SALES, [tuple(r) for r in product_sales])
            cursor.execute(COMMIT_BATCH, (self.query_name, batch_id))
            cursor.execute(RECORD_PROGRESS, progress)
            connection.commit()
        return True
