"""What the orders stream computes, as pure functions: DataFrame in, DataFrame out.

`micro_batch` says on one screen what one micro-batch produces; the stream
(orders_stream.py) only reads, calls it and writes, and the unit tests call it
on static DataFrames, as later batch jobs over the raw store can.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_jobs.validation import ORDER_COLUMNS

UNKNOWN_STATE = "??"
# The coarser windows each minute window also counts in, by table suffix (MySQL's *_by_hour, *_by_day).
ROLLUPS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
EPOCH = datetime(1970, 1, 1)
NO_PAYMENT_METHOD = "unknown"
DLQ_HEADERS = ("dlq.reason", "dlq.source.topic", "dlq.source.partition", "dlq.source.offset")


class MicroBatch(NamedTuple):
    """What one micro-batch produces, one DataFrame per destination."""

    orders: DataFrame  # Cassandra `orders`: each valid order with its customer's state
    orders_by_time: DataFrame  # Cassandra `orders_by_time`: the same, keyed by UTC day and minute
    sales_by_minute: DataFrame  # MySQL: orders, units, revenue per window, source, state, payment method, currency
    product_sales_by_minute: DataFrame  # MySQL: the same per window and product
    dead_letters: DataFrame  # Kafka `orders.dlq`: each rejected record's bytes, why and where from
    summary: DataFrame  # MySQL `stream_progress`: one row of counts


def micro_batch(
    parsed: DataFrame, customers: DataFrame, newest_before: datetime | None, window: str, delay: str
) -> MicroBatch:
    """One micro-batch of checked records (parse_orders, then deduplicate) -> everything it writes.

    `customers` is the customers dimension (customer_id, state); `newest_before`
    the newest event time of the earlier batches, which sets the lateness
    watermark with `delay`; `window` the length of the tumbling windows.
    """
    orders = enrich(valid_orders(parsed), customers)
    return MicroBatch(
        orders=orders,
        orders_by_time=by_time(orders),
        sales_by_minute=sales_by_minute(orders, window),
        product_sales_by_minute=product_sales_by_minute(orders, window),
        dead_letters=dead_letters(parsed),
        summary=batch_summary(parsed, newest_before, delay),
    )


def deduplicate(parsed: DataFrame, delay: str) -> DataFrame:
    """Keeps the first record of each order_id seen within `delay` of processing time.

    Processing time (`validated_at`, the wall clock when the record was validated)
    bounds the state instead of event time: then no record is ever too late to
    pass, whatever its created_at. A replay after a crash validates the batch
    again, later, so it is never late either. Rejected records are keyed by their
    Kafka position, so each reaches the dead-letter topic. A bounded input has no
    watermark: all its repeats are dropped.
    """
    position = F.format_string("%s/%d/%d", "topic", "partition", "offset")
    keyed = parsed.withColumn("dedup_key", F.coalesce(F.col("order_id"), position))
    if parsed.isStreaming:
        unique = keyed.withWatermark("validated_at", delay).dropDuplicatesWithinWatermark(["dedup_key"])
    else:
        unique = keyed.dropDuplicates(["dedup_key"])
    return unique.drop("dedup_key")


def dead_letters(parsed: DataFrame) -> DataFrame:
    """Rejected records as the Kafka sink writes them: the raw key and value, and headers saying why and from where."""

    def header(name: str, value: Column) -> Column:
        return F.struct(F.lit(name).alias("key"), value.cast("string").cast("binary").alias("value"))

    values = [F.col("error"), F.col("topic"), F.col("partition"), F.col("offset")]
    return parsed.where(F.col("error").isNotNull()).select(
        "key", "value", F.array(*map(header, DLQ_HEADERS, values)).alias("headers")
    )


def valid_orders(parsed: DataFrame) -> DataFrame:
    return parsed.where(F.col("error").isNull()).select(*ORDER_COLUMNS)


def enrich(orders: DataFrame, customers: DataFrame) -> DataFrame:
    """Adds the customer's state from the customers dimension; UNKNOWN_STATE when the customer is not in it."""
    states = F.broadcast(customers.select("customer_id", "state"))
    return (
        orders.join(states, "customer_id", "left")
        .withColumn("state", F.coalesce(F.col("state"), F.lit(UNKNOWN_STATE)))
        .select(*ORDER_COLUMNS, "state")
    )


def by_time(orders: DataFrame) -> DataFrame:
    """Adds the time-range table's partition key: the UTC day and the minute of that day."""
    minute_of_day = F.hour("created_at") * 60 + F.minute("created_at")
    return orders.withColumn("day", F.to_date("created_at")).withColumn("bucket", minute_of_day.cast("smallint"))


def _window_totals(orders: DataFrame, window: str, *dimensions: str) -> DataFrame:
    """Orders, units and revenue per event-time tumbling window and dimensions; window bounds in UTC."""
    return (
        orders.groupBy(F.window("created_at", window).alias("window"), *dimensions)
        .agg(F.count("*").alias("orders"), F.sum("quantity").alias("units"), F.sum("total").alias("revenue"))
        .select(
            F.col("window.start").cast("timestamp_ntz").alias("window_start"),
            F.col("window.end").cast("timestamp_ntz").alias("window_end"),
            *dimensions,
            "orders",
            "units",
            "revenue",
        )
    )


def sales_by_minute(orders: DataFrame, window: str) -> DataFrame:
    with_method = orders.withColumn("payment_method", F.coalesce("payment_method", F.lit(NO_PAYMENT_METHOD)))
    return _window_totals(with_method, window, "source", "state", "payment_method", "currency")


def product_sales_by_minute(orders: DataFrame, window: str) -> DataFrame:
    return _window_totals(orders, window, "product_id")


def batch_summary(parsed: DataFrame, newest_before: datetime | None, delay: str) -> DataFrame:
    """One row about a micro-batch: records, dead letters, newest valid event time, and the lateness of its orders.

    As in Spark, the event-time watermark is the newest event time of the
    earlier batches minus `delay`; orders older than it count as late rows
    (they are still counted in their own window). Times are naive UTC.
    """
    valid = F.col("error").isNull()
    watermark = F.lit(newest_before).cast("timestamp") - F.expr(f"INTERVAL {delay}")
    return parsed.agg(
        F.count("*").alias("input_rows"),
        F.count_if(~valid).alias("dead_letters"),
        F.max(F.when(valid, F.col("created_at"))).cast("timestamp_ntz").alias("max_event_time"),
        F.count_if(valid & (F.col("created_at") < watermark)).alias("late_rows"),
    ).withColumn("watermark", watermark.cast("timestamp_ntz"))


def roll_up(windows: Iterable[tuple], period: timedelta) -> list[tuple]:
    """Window rows as collected, (window_start, window_end, *dimensions, orders, units, revenue),
    summed into the UTC `period` (an hour, a day) that holds each window's start.

    A batch's minute rows and their rollups go to MySQL in one transaction, so an
    hour always equals the sum of its minutes, even after the minutes are purged.
    """
    totals: dict[tuple, list] = {}
    for start, _end, *rest in windows:
        *dimensions, orders, units, revenue = rest
        begin = EPOCH + (start - EPOCH) // period * period
        total = totals.setdefault((begin, begin + period, *dimensions), [0, 0, Decimal(0)])
        total[0] += orders
        total[1] += units
        total[2] += revenue
    return [(*key, *total) for key, total in totals.items()]
