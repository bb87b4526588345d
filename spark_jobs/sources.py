"""What the orders stream reads: the `orders` topic, the orders stored before (Cassandra), and the
customers dimension in MySQL."""

import time

from pyspark.sql import DataFrame, SparkSession

from pipeline.clients import mysql_connection, spark_kafka_options
from pipeline.settings import Settings


def read_orders(spark: SparkSession, settings: Settings, starting_offsets: str) -> DataFrame:
    """The `orders` topic as Spark's Kafka source rows (key, value, topic, partition, offset, timestamp, ...)."""
    return (
        spark.readStream.format("kafka")
        .options(**spark_kafka_options(settings))
        .option("subscribe", settings.orders_topic)
        .option("startingOffsets", starting_offsets)
        .option("maxOffsetsPerTrigger", settings.max_offsets_per_trigger)
        .load()
    )


def stored_orders(spark: SparkSession, settings: Settings, columns: list[str]) -> DataFrame:
    """Cassandra's `orders`, as a DataFrame the connector joins by order_id (a read per key, never a
    scan of the table: `directJoinSetting`, with CassandraSparkExtensions in spark-defaults.conf)."""
    return (
        spark.read.format("org.apache.spark.sql.cassandra")
        .options(keyspace=settings.cassandra_keyspace, table="orders", directJoinSetting="on")
        .load()
        .select(*columns)
    )


def written_by(spark: SparkSession, rows: list[tuple[str, int]]) -> DataFrame:
    """(checkpoint_id, batch_id) rows held in the plan itself (a LocalRelation): broadcast with no
    Spark job of their own, and values rather than literals in generated code, which would then
    be compiled again for every batch."""
    values = ", ".join(["(CAST(? AS STRING), CAST(? AS BIGINT))"] * max(len(rows), 1))
    empty = "" if rows else " WHERE FALSE"
    return spark.sql(
        f"SELECT * FROM VALUES {values} AS written_by(checkpoint_id, batch_id){empty}",
        args=[value for row in rows or [("", -1)] for value in row],
    )


class Customers:
    """The customers dimension (customer_id, state), read again every CUSTOMERS_REFRESH_SECONDS."""

    def __init__(self, spark: SparkSession, settings: Settings):
        self.spark, self.settings = spark, settings
        self.frame: DataFrame | None = None
        self.loaded_at = 0.0

    def current(self) -> DataFrame:
        if self.frame is None or time.monotonic() - self.loaded_at > self.settings.customers_refresh_seconds:
            with mysql_connection(self.settings) as connection, connection.cursor() as cursor:
                cursor.execute("SELECT customer_id, state FROM customers")
                rows = cursor.fetchall()
            # Cached: otherwise every batch's broadcast join would rebuild the table from these
            # Python rows, one more Spark job with Python workers per batch.
            frame = self.spark.createDataFrame(rows, "customer_id int, state string").cache()
            frame.count()
            if self.frame is not None:
                self.frame.unpersist()
            self.frame, self.loaded_at = frame, time.monotonic()
        return self.frame
