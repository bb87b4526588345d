"""Static DataFrames for the stream's unit tests: Kafka source rows, collected rows, generated orders."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipeline.contract import Order
from pipeline.simulate import OrderGenerator

NOW = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)
KAFKA_SCHEMA = "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"


def records(spark: SparkSession, values: Sequence[bytes | None], received_at: datetime = NOW) -> DataFrame:
    """Kafka source rows: one per value, on partition 1 from offset 100."""
    return spark.createDataFrame(
        [(None, value, "orders", 1, 100 + i, received_at) for i, value in enumerate(values)], KAFKA_SCHEMA
    )


def rows(df: DataFrame) -> list[dict]:
    """Collected rows, timestamps as naive UTC whatever the machine's time zone."""
    naive = [
        F.col(f.name).cast("timestamp_ntz").alias(f.name) if isinstance(f.dataType, T.TimestampType) else F.col(f.name)
        for f in df.schema.fields
    ]
    return [row.asDict() for row in df.select(*naive).collect()]


def generated_orders(
    count: int, seed: int = 7, start: datetime = NOW, span: timedelta = timedelta(minutes=5)
) -> list[Order]:
    """Valid orders from the load generator, created_at spread evenly over span."""
    generator = OrderGenerator(seed=seed)
    step = span / count
    return [
        Order.model_validate(
            {**generator.valid_order(), "created_at": (start + i * step).isoformat()},
            context={"received_at": start + span},
        )
        for i in range(count)
    ]
