"""What the orders stream computes, as pure functions: DataFrame in, DataFrame out.

`micro_batch` (a `MicroBatch`) says on one screen what one micro-batch produces; the stream
(orders_stream.py) only reads, calls it and writes, and the unit tests call it
on static DataFrames, as later batch jobs over the raw store can.
"""

import functools
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from pyspark.sql import Column, DataFrame, Row, Window
from pyspark.sql import functions as F

from spark_jobs.validation import ORDER_COLUMNS

UNKNOWN_STATE = "??"
# The coarser windows each minute window also counts in, by table suffix (MySQL's *_by_hour, *_by_day).
ROLLUPS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
EPOCH = datetime(1970, 1, 1)
NO_PAYMENT_METHOD = "unknown"
DLQ_HEADERS = ("dlq.reason", "dlq.source.topic", "dlq.source.partition", "dlq.source.offset")


# What makes two orders with one order_id the same order: what was ordered, not when (a
# client retrying without created_at gets the server's time of each attempt).
FINGERPRINTED = [name for name in ORDER_COLUMNS if name not in ("order_id", "created_at")]
# What the raw store (Cassandra `orders`) says of an order_id seen before; the stream reads it by order_id.
EARLIER_COLUMNS = ["order_id", "fingerprint", "first_seen", "created_at", "checkpoint_id", "batch_id"]
# Which batch wrote a stored order: reconcile and backfill count only batches MySQL committed.
WRITTEN_BY = ["checkpoint_id", "batch_id"]
ORDERS_TABLE = [*ORDER_COLUMNS, "state", "fingerprint", "first_seen", *WRITTEN_BY]
ORDERS_BY_TIME_TABLE = ["day", "bucket", *ORDER_COLUMNS, "state", *WRITTEN_BY]


class MicroBatch:
    """What one micro-batch produces, one DataFrame per destination (micro_batch).

    Each is built when first used: building a DataFrame costs its planning,
    and the writer (sinks.BatchWriter) starts the first write while it builds
    the others.
    """

    def __init__(
        self, checked: DataFrame, customers: DataFrame, newest_before: datetime | None, window: str, delay: str
    ):
        self.checked, self.customers = checked, customers
        self.newest_before, self.window, self.delay = newest_before, window, delay

    @functools.cached_property
    def orders(self) -> DataFrame:
        """Cassandra `orders`: each new order with its customer's state, fingerprint and batch."""
        return enrich(new_orders(self.checked), self.customers).select(*ORDERS_TABLE)

    # The rows and windows below derive from `orders`, so that a cache of it (sinks.BatchWriter)
    # serves them all; the summary and dead letters from `checked`, which the stream caches. A
    # micro-batch's windows and counts are small: each is summed in one task (coalesce(1) needs
    # no shuffle), where a shuffle would add a stage that waits for a core.

    @functools.cached_property
    def orders_by_time(self) -> DataFrame:
        """Cassandra `orders_by_time`: the same, keyed by UTC day and minute."""
        return by_time(self.orders).select(*ORDERS_BY_TIME_TABLE)

    @functools.cached_property
    def sales_by_minute(self) -> DataFrame:
        """MySQL: orders, units, revenue per window, source, state, payment method, currency."""
        return sales_by_minute(self.orders.coalesce(1), self.window)

    @functools.cached_property
    def product_sales_by_minute(self) -> DataFrame:
        """MySQL: the same per window and product."""
        return product_sales_by_minute(self.orders.coalesce(1), self.window)

    @functools.cached_property
    def dead_letters(self) -> DataFrame:
        """Kafka `orders.dlq`: each rejected record's bytes, why and where from."""
        return dead_letters(self.checked)

    @functools.cached_property
    def summary(self) -> DataFrame:
        """MySQL `stream_progress`: one row of counts."""
        return batch_summary(self.checked.coalesce(1), self.newest_before, self.delay)


def micro_batch(
    checked: DataFrame, customers: DataFrame, newest_before: datetime | None, window: str, delay: str
) -> MicroBatch:
    """One micro-batch of records checked against the orders seen before (parse_orders, then
    against_earlier_orders) -> everything it writes.

    `customers` is the customers dimension (customer_id, state); `newest_before`
    the newest event time of the earlier batches, which sets the lateness
    watermark with `delay`; `window` the length of the tumbling windows.
    """
    return MicroBatch(checked, customers, newest_before, window, delay)


def fingerprint() -> Column:
    """A 64-bit digest of what an order asks for (FINGERPRINTED), the same for the same order on any
    replay: two versions of one order_id that collide go unnoticed once in 2**64."""
    return F.xxhash64(*FINGERPRINTED)


def counted_by_mysql(
    checkpoint: str, batch: str, current_checkpoint: str, last_committed: Column | str, done: str
) -> Column:
    """Whether MySQL has counted a stored order, by the batch that wrote it (`checkpoint`, `batch`):
    a batch of the current checkpoint up to `last_committed`, of another one up to its last
    committed batch (`done`, null when it committed none), or before the raw store said which."""
    return (
        F.when(F.col(checkpoint).isNull(), F.lit(True))
        .when(F.col(checkpoint) == F.col(current_checkpoint), F.col(batch) <= last_committed)
        .otherwise(F.coalesce(F.col(batch) <= F.col(done), F.lit(False)))
    )


def against_earlier_orders(
    parsed: DataFrame, earlier: DataFrame, batch: DataFrame, committed_before: DataFrame, horizon: str
) -> DataFrame:
    """Each record of a micro-batch against the orders seen before it: `repeat` is true for an order
    already counted (neither counted nor stored again); `error` says so for an order_id reused with
    different content, or resent more than `horizon` after it was first seen (its Kafka
    timestamp): dead letters, which the raw store and MySQL never count. The rest are new, with
    what the raw store keeps of them (fingerprint, first_seen, this batch's checkpoint_id and
    batch_id).

    Seen before means: earlier in this batch (by Kafka position), or in `earlier` (the raw
    store's EARLIER_COLUMNS, at least for this batch's order_ids) when MySQL has counted it
    (counted_by_mysql): written by an earlier batch of this checkpoint, by a batch of another
    checkpoint up to the last it committed (`committed_before`: checkpoint_id, batch_id), or
    before the raw store said which. A row this very batch (`batch`: one row, checkpoint_id and
    batch_id) wrote in an attempt that failed before its MySQL commit is not counted yet, nor
    one of a batch another checkpoint never committed: the stream counts them now. Rows stored
    before fingerprints were kept count as the same order.
    """
    prior = earlier.select(  # plain columns only: the connector then reads them by order_id
        F.col("order_id").alias("lookup_id"),
        F.col("fingerprint").alias("prior_fingerprint"),
        F.col("first_seen").alias("prior_first_seen"),
        F.col("created_at").alias("prior_created_at"),
        F.col("checkpoint_id").alias("prior_checkpoint"),
        F.col("batch_id").alias("prior_batch"),
    )
    done = committed_before.select(F.col("checkpoint_id").alias("prior_checkpoint"), F.col("batch_id").alias("done"))
    in_batch = Window.partitionBy("order_id").orderBy("partition", "offset")
    valid = F.col("error").isNull()
    seen = F.coalesce("prior_first_seen", "prior_created_at")
    seen_within = seen >= F.col("received_at") - F.expr(f"INTERVAL {horizon}")
    # The window before the lookup: the connector's direct join fails when Spark canonicalizes
    # a plan with it under an exchange (spark-defaults.conf turns exchange reuse off too).
    counted_before = valid & seen.isNotNull()
    counted_before &= counted_by_mysql(
        "prior_checkpoint", "prior_batch", "checkpoint_id", F.col("batch_id") - 1, "done"
    )
    # withColumns, not one withColumn per column: each call analyses the whole plan again,
    # parse included, in every micro-batch.
    checked = (
        parsed.withColumns(
            {
                "fingerprint": F.when(valid, fingerprint()),
                # Cassandra refuses a read by a null key, and rejected records have no order_id:
                # theirs is the nil UUID, which reads nothing the stream uses.
                "lookup_id": F.coalesce("order_id", F.lit(str(uuid.UUID(int=0)))),
            }
        )
        .withColumns(
            {
                "first_in_batch": F.row_number().over(in_batch) == 1,
                "batch_fingerprint": F.first("fingerprint").over(in_batch),
                "batch_first_seen": F.first("received_at").over(in_batch),
            }
        )
        .join(prior, "lookup_id", "left")
        .join(F.broadcast(done), "prior_checkpoint", "left")
        .crossJoin(F.broadcast(batch.select(*WRITTEN_BY)))
        .withColumn("counted_before", counted_before)
        .withColumns(
            {
                "same_as": F.when(F.col("counted_before"), F.col("prior_fingerprint")).otherwise(
                    F.col("batch_fingerprint")
                ),
                "first_seen": F.when(F.col("counted_before"), seen).otherwise(F.col("batch_first_seen")),
                "again": valid & (F.col("counted_before") | ~F.col("first_in_batch")),
                "expired": F.col("counted_before") & ~seen_within,
            }
        )
    )
    same = F.col("same_as").isNull() | (F.col("fingerprint") == F.col("same_as"))
    first_seen = F.date_format("first_seen", "yyyy-MM-dd'T'HH:mm:ss.SSSXXX")
    error = (
        F.when(
            F.col("again") & ~same,
            F.concat(F.lit("order_id: reused with different content (first seen "), first_seen, F.lit(")")),
        )
        .when(
            F.col("again") & F.col("expired"),
            F.concat(F.lit(f"order_id: resent more than {horizon} after it was first seen ("), first_seen, F.lit(")")),
        )
        .otherwise(F.col("error"))
        .alias("error")
    )
    return checked.select(
        *(error if name == "error" else name for name in parsed.columns),
        (F.col("again") & same & ~F.col("expired")).alias("repeat"),
        "fingerprint",
        "first_seen",
        *WRITTEN_BY,
    )


def dead_letters(parsed: DataFrame) -> DataFrame:
    """Rejected records as the Kafka sink writes them: the raw key and value, and headers saying why and from where."""

    def header(name: str, value: Column) -> Column:
        return F.struct(F.lit(name).alias("key"), value.cast("string").cast("binary").alias("value"))

    values = [F.col("error"), F.col("topic"), F.col("partition"), F.col("offset")]
    return parsed.where(F.col("error").isNotNull()).select(
        "key", "value", F.array(*map(header, DLQ_HEADERS, values)).alias("headers")
    )


def new_orders(checked: DataFrame) -> DataFrame:
    """The valid orders not seen before (against_earlier_orders), with what the raw store keeps of them."""
    return checked.where(F.col("error").isNull() & ~F.col("repeat")).select(
        *ORDER_COLUMNS, "fingerprint", "first_seen", *WRITTEN_BY
    )


def enrich(orders: DataFrame, customers: DataFrame) -> DataFrame:
    """Adds the customer's state from the customers dimension; UNKNOWN_STATE when the customer is not in it."""
    states = F.broadcast(customers.select("customer_id", "state"))
    return (
        orders.join(states, "customer_id", "left")
        .withColumn("state", F.coalesce(F.col("state"), F.lit(UNKNOWN_STATE)))
        .select(*orders.columns, "state")
    )


def by_time(orders: DataFrame) -> DataFrame:
    """Adds the time-range table's partition key: the UTC day and the minute of that day."""
    minute_of_day = F.hour("created_at") * 60 + F.minute("created_at")
    return orders.withColumns({"day": F.to_date("created_at"), "bucket": minute_of_day.cast("smallint")})


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


def batch_summary(checked: DataFrame, newest_before: datetime | None, delay: str) -> DataFrame:
    """One row about a micro-batch (against_earlier_orders): records, dead letters, repeats, the newest
    event time of its new orders, and their lateness.

    As in Spark, the event-time watermark is the newest event time of the
    earlier batches minus `delay`; orders older than it count as late rows
    (they are still counted in their own window). Times are naive UTC.
    """
    valid = F.col("error").isNull()
    new = valid & ~F.col("repeat")
    watermark = F.lit(newest_before).cast("timestamp") - F.expr(f"INTERVAL {delay}")
    return checked.agg(
        F.count("*").alias("input_rows"),
        F.count_if(~valid).alias("dead_letters"),
        F.count_if(valid & F.col("repeat")).alias("repeats"),
        F.max(F.when(new, F.col("created_at"))).cast("timestamp_ntz").alias("max_event_time"),
        F.count_if(new & (F.col("created_at") < watermark)).alias("late_rows"),
    ).withColumn("watermark", watermark.cast("timestamp_ntz"))


def tagged_union(frames: list[DataFrame]) -> DataFrame:
    """Small results as one DataFrame, so that one Spark job collects them all: every frame's
    columns (null where a frame has none), and `part`, the frame's position in `frames`."""
    tagged = [frame.withColumn("part", F.lit(part)) for part, frame in enumerate(frames)]
    return functools.reduce(lambda union, frame: union.unionByName(frame, allowMissingColumns=True), tagged)


def untag(rows: Iterable[Row], frames: list[DataFrame]) -> list[list[Row]]:
    """Rows collected from tagged_union(frames), back to each frame's rows with its own columns."""
    parts: list[list[Row]] = [[] for _ in frames]
    columns = [frame.columns for frame in frames]
    for row in rows:
        parts[row.part].append(Row(**{name: row[name] for name in columns[row.part]}))
    return parts


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
