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


def local_rows(spark: SparkSession, rows: list[tuple], columns: list[tuple[str, str]], name: str) -> DataFrame:
    """Rows held in the plan itself (a LocalRelation), `columns` as (name, SQL type): broadcast with no
    Spark job of their own, and values rather than literals in generated code, which would then be
    compiled again for every batch."""
    row = "(" + ", ".join(f"CAST(? AS {data_type})" for _, data_type in columns) + ")"
    empty = "" if rows else " WHERE FALSE"
    names = ", ".join(column for column, _ in columns)
    return spark.sql(
        f"SELECT * FROM VALUES {', '.join([row] * max(len(rows), 1))} AS {name}({names}){empty}",
        args=[value for values in rows or [(None,) * len(columns)] for value in values],
    )


def written_by(spark: SparkSession, rows: list[tuple[str, int]]) -> DataFrame:
    """(checkpoint_id, batch_id) rows, as local_rows."""
    return local_rows(spark, rows, [("checkpoint_id", "STRING"), ("batch_id", "BIGINT")], "written_by")


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
            # In the plan: each batch's joins broadcast it with no Spark job, where a cached
            # DataFrame cost one job for every write of every batch.
            self.frame = local_rows(self.spark, list(rows), [("customer_id", "INT"), ("state", "STRING")], "customers")
            self.loaded_at = time.monotonic()
        return self.frame
