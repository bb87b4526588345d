"""What the orders stream reads: the `orders` topic, and the customers dimension in MySQL."""

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
