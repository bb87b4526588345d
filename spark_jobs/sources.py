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
        # A read task's consumer fetches ahead, and the broker holds that fetch until new
        # records come, up to fetch.max.wait.ms (500 ms by default). Spark asks the same
        # connection for the partition's offsets after every fetch, which the broker answers
        # only after the held fetch: every read task waited for the next produce.
        .option("kafka.fetch.max.wait.ms", "10")
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


def sql_literal(value: object, data_type: str) -> str:
    """A value as a SQL literal of data_type; text as hexadecimal bytes, so no quoting can go wrong."""
    if value is None:
        return f"CAST(NULL AS {data_type})"
    if isinstance(value, int):
        return f"CAST({value:d} AS {data_type})"
    return f"CAST(X'{str(value).encode().hex()}' AS {data_type})"


def local_rows(spark: SparkSession, rows: list[tuple], columns: list[tuple[str, str]], name: str) -> DataFrame:
    """Rows held in the plan itself (a LocalRelation), `columns` as (name, SQL type): a plan that joins
    them broadcasts them with one small job (Spark collects even a LocalRelation that way). Written
    into the statement, not passed as arguments: pyspark makes a JVM call for every argument, a
    second for a thousand customers."""
    values = [
        "(" + ", ".join(sql_literal(value, data_type) for value, (_, data_type) in zip(row, columns, strict=True)) + ")"
        for row in rows or [(None,) * len(columns)]
    ]
    empty = "" if rows else " WHERE FALSE"
    names = ", ".join(column for column, _ in columns)
    return spark.sql(f"SELECT * FROM VALUES {', '.join(values)} AS {name}({names}){empty}")


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
            # In the plan: each batch broadcasts it once, where a cached DataFrame cost one
            # job for every write of every batch.
            self.frame = local_rows(self.spark, list(rows), [("customer_id", "INT"), ("state", "STRING")], "customers")
            self.loaded_at = time.monotonic()
        return self.frame
