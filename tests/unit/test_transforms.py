"""The stream's business logic (spark_jobs/transforms.py) on static DataFrames, like Flink's SpendReport test."""

from datetime import UTC, date, datetime, timedelta

import pandas as pd
from pyspark.sql import functions as F

from spark_jobs import transforms
from spark_jobs.sources import written_by
from spark_jobs.validation import parse_orders
from tests import reference
from tests.unit.frames import NOW, generated_orders, records, rows

EARLIER_SCHEMA = ", ".join(
    f"{name} {kind}"
    for name, kind in zip(
        transforms.EARLIER_COLUMNS, ("string", "long", "timestamp", "timestamp", "string", "long"), strict=True
    )
)


def test_dead_letters_keep_the_raw_bytes_and_say_why_and_where_from(spark):
    good = generated_orders(1)[0].record()[1]
    parsed = parse_orders(records(spark, [good, b"\xff not json"]))
    letters = transforms.dead_letters(parsed).collect()
    assert len(letters) == 1
    headers = {h["key"]: bytes(h["value"]).decode() for h in letters[0]["headers"]}
    assert bytes(letters[0]["value"]) == b"\xff not json"
    assert headers["dlq.reason"].startswith("body: invalid JSON")
    assert (headers["dlq.source.topic"], headers["dlq.source.partition"], headers["dlq.source.offset"]) == (
        "orders",
        "1",
        "101",
    )
    assert [row["order_id"] for row in rows(micro_batch(spark, parsed).orders)] == [
        str(generated_orders(1)[0].order_id)
    ]


def micro_batch(spark, parsed, earlier=None, checkpoint="c2", batch_id=5, committed_before=(), horizon="24 hours"):
    """The stream's two steps as it calls them, with the raw store's rows `earlier` (default none)."""
    checked = transforms.against_earlier_orders(
        parsed,
        earlier if earlier is not None else parsed.sparkSession.createDataFrame([], EARLIER_SCHEMA),
        written_by(spark, [(checkpoint, batch_id)]),
        written_by(spark, list(committed_before)),
        horizon,
    )
    return transforms.micro_batch(
        checked, spark.createDataFrame([], "customer_id int, state string"), None, "1 minute", "2 minutes"
    )


def valid(parsed):
    return parsed.where(F.col("error").isNull())


def reasons(batch: transforms.MicroBatch) -> list[str]:
    return sorted(
        bytes(h["value"]).decode()
        for letter in batch.dead_letters.collect()
        for h in letter["headers"]
        if h["key"] == "dlq.reason"
    )


def test_within_a_batch_an_order_id_counts_once_and_with_other_content_is_a_dead_letter(spark):
    order = generated_orders(1)[0]
    changed = order.model_copy(
        update={"quantity": order.quantity + 1, "total": (order.quantity + 1) * order.unit_price}
    )
    later = order.model_copy(update={"created_at": order.created_at + timedelta(seconds=5)})  # a retry, server time
    values = [order.record()[1], order.record()[1], later.record()[1], changed.record()[1], b"bad", b"bad"]
    batch = micro_batch(spark, parse_orders(records(spark, values)))
    assert [row["order_id"] for row in rows(batch.orders)] == [str(order.order_id)]
    assert rows(batch.orders)[0]["quantity"] == order.quantity  # the first version
    summary = rows(batch.summary)[0]
    assert (summary["input_rows"], summary["repeats"], summary["dead_letters"]) == (6, 2, 3)
    assert reasons(batch)[2] == "order_id: reused with different content (first seen 2026-11-23T10:00:00.000Z)"


def test_an_order_the_raw_store_holds_counts_again_only_when_mysql_never_counted_it(spark):
    orders = generated_orders(8)
    first = micro_batch(spark, parse_orders(records(spark, [o.record()[1] for o in orders])), checkpoint="c1")
    position = {str(o.order_id): i for i, o in enumerate(orders)}
    stored = sorted(first.orders.select(*transforms.EARLIER_COLUMNS).collect(), key=lambda row: position[row.order_id])
    # What each stored row is, and so what a resend of it becomes.
    as_written = {
        0: ("c2", 4, "repeat"),  # an earlier batch of this checkpoint: committed
        1: ("c2", 5, "new"),  # this very batch, in an attempt that failed before its commit
        2: ("c1", 9, "repeat"),  # another checkpoint, up to its last committed batch
        3: ("c1", 10, "new"),  # ... past it: never counted
        4: ("c0", 1, "new"),  # a checkpoint that never committed a batch
        5: (None, None, "repeat"),  # stored before the raw store said which batch
    }
    earlier = spark.createDataFrame(
        [
            (row.order_id, row.fingerprint, row.first_seen, row.created_at, *as_written[i][:2])
            for i, row in enumerate(stored[:6])
        ]
        + [(str(orders[6].order_id), 42, NOW, NOW, "c2", 1)],  # other content
        EARLIER_SCHEMA,
    )
    resent = [o.record()[1] for o in orders[:7]]
    batch = micro_batch(spark, parse_orders(records(spark, resent)), earlier, committed_before=[("c1", 9), ("c2", 4)])
    expected_new = {str(orders[i].order_id) for i, (_, _, verdict) in as_written.items() if verdict == "new"}
    assert {row["order_id"] for row in rows(batch.orders)} == expected_new
    assert {(row["checkpoint_id"], row["batch_id"]) for row in rows(batch.orders)} == {("c2", 5)}
    assert rows(batch.summary)[0]["repeats"] == 3
    assert reasons(batch) == ["order_id: reused with different content (first seen 2026-11-23T10:00:00.000Z)"]


def test_resent_after_the_horizon_an_order_is_a_dead_letter_never_counted_twice(spark):
    order = generated_orders(1)[0]
    first = micro_batch(spark, parse_orders(records(spark, [order.record()[1]])), checkpoint="c2", batch_id=1)
    earlier = first.orders.select(*transforms.EARLIER_COLUMNS)
    within = micro_batch(
        spark, parse_orders(records(spark, [order.record()[1]], NOW + timedelta(minutes=59))), earlier, horizon="1 hour"
    )
    assert (rows(within.orders), rows(within.summary)[0]["repeats"], reasons(within)) == ([], 1, [])
    after = micro_batch(
        spark, parse_orders(records(spark, [order.record()[1]], NOW + timedelta(hours=2))), earlier, horizon="1 hour"
    )
    assert (rows(after.orders), rows(after.summary)[0]["repeats"]) == ([], 0)
    assert reasons(after) == ["order_id: resent more than 1 hour after it was first seen (2026-11-23T10:00:00.000Z)"]


def test_unknown_customers_are_kept_under_the_unknown_state(spark):
    orders = valid(
        parse_orders(
            records(
                spark,
                [
                    o.model_copy(update={"customer_id": customer}).record()[1]
                    for o, customer in zip(generated_orders(3), [1, 2, 999_999], strict=True)
                ],
            )
        )
    )
    customers = spark.createDataFrame([(1, "CA"), (2, "TX")], "customer_id int, state string")
    assert sorted(row["state"] for row in rows(transforms.enrich(orders, customers))) == ["??", "CA", "TX"]


def test_windows_split_exactly_at_the_minute_edge(spark):
    edge = datetime(2026, 11, 23, 10, 1, tzinfo=UTC)
    orders = [
        o.model_copy(update={"created_at": at})
        for o, at in zip(
            generated_orders(3),
            [edge - timedelta(microseconds=1), edge, edge + timedelta(seconds=59.999999)],
            strict=True,
        )
    ]
    parsed = valid(parse_orders(records(spark, [o.record()[1] for o in orders])))
    enriched = transforms.enrich(parsed, spark.createDataFrame([], "customer_id int, state string"))
    windows = sorted(
        (row["window_start"], row["window_end"], row["orders"])
        for row in rows(transforms.product_sales_by_minute(enriched.withColumn("product_id", F.lit("p")), "1 minute"))
    )
    assert windows == [
        (datetime(2026, 11, 23, 10, 0), datetime(2026, 11, 23, 10, 1), 1),
        (datetime(2026, 11, 23, 10, 1), datetime(2026, 11, 23, 10, 2), 2),
    ]
    by_time = rows(transforms.by_time(enriched))
    assert sorted((row["day"], row["bucket"]) for row in by_time) == [
        (date(2026, 11, 23), 600),
        (date(2026, 11, 23), 601),
        (date(2026, 11, 23), 601),
    ]


def test_a_micro_batch_produces_what_a_plain_python_reference_computes(spark):
    """Bounded input through the stream's own steps: parse, then every output of micro_batch."""
    orders = generated_orders(1000, seed=11, start=NOW - timedelta(minutes=3))  # across an hour's edge
    resent = [order.record()[1] for order in orders[:100]]  # a client retrying: counted once
    values = [order.record()[1] for order in orders] + resent + [b"junk", b'{"quantity": 1}']
    parsed = parse_orders(records(spark, values, NOW + timedelta(hours=1)))
    parsed.persist()  # as the stream does: parsed once for every output
    states = reference.customer_states()
    # From a session of their own, as in the stream, where each micro-batch has another one.
    customers = spark.newSession().createDataFrame(
        pd.DataFrame({"customer_id": list(states), "state": list(states.values())})
    )

    checked = transforms.against_earlier_orders(
        parsed,
        spark.createDataFrame([], EARLIER_SCHEMA),
        written_by(spark, [("c1", 0)]),
        written_by(spark, []),
        "24 hours",
    )
    batch = transforms.micro_batch(checked, customers, None, "1 minute", "2 minutes")

    stored = rows(batch.orders)
    assert sorted(row["order_id"] for row in stored) == sorted(str(order.order_id) for order in orders)
    assert {row["order_id"]: row["state"] for row in stored} == {
        str(order.order_id): states.get(order.customer_id, "??") for order in orders
    }
    assert sorted((row["order_id"], row["day"], row["bucket"]) for row in rows(batch.orders_by_time)) == sorted(
        (str(o.order_id), o.created_at.date(), o.created_at.hour * 60 + o.created_at.minute) for o in orders
    )
    dimensions = ["window_start", "window_end", "source", "state", "payment_method", "currency"]
    sales = {
        tuple(r[d] for d in dimensions): (r["orders"], r["units"], r["revenue"]) for r in rows(batch.sales_by_minute)
    }
    products = {
        (r["window_start"], r["window_end"], r["product_id"]): (r["orders"], r["units"], r["revenue"])
        for r in rows(batch.product_sales_by_minute)
    }
    assert sales == reference.sales_by_minute(orders, states, timedelta(minutes=1))
    assert products == reference.product_sales_by_minute(orders, timedelta(minutes=1))
    for period in transforms.ROLLUPS.values():  # each rollup equals windows of its own length
        assert {tuple(r[:6]): tuple(r[6:]) for r in transforms.roll_up(batch.sales_by_minute.collect(), period)} == (
            reference.sales_by_minute(orders, states, period)
        )
        assert {
            tuple(r[:3]): tuple(r[3:]) for r in transforms.roll_up(batch.product_sales_by_minute.collect(), period)
        } == (reference.product_sales_by_minute(orders, period))
    assert any(key[3] == "??" for key in sales)
    assert any(key[4] == "unknown" for key in sales)
    assert sorted(bytes(letter["value"]) for letter in batch.dead_letters.collect()) == [b"junk", b'{"quantity": 1}']
    summary = rows(batch.summary)[0]
    assert (summary["input_rows"], summary["dead_letters"], summary["repeats"], summary["late_rows"]) == (
        1102,
        2,
        100,
        0,
    )
    assert summary["max_event_time"] == max(o.created_at for o in orders).replace(tzinfo=None)


def test_small_results_collected_in_one_job_come_back_as_each_frame_collects_alone(spark):
    summary = spark.createDataFrame([(7, None)], "input_rows long, newest timestamp")
    sales = spark.createDataFrame([(1, "TX", 2.5)], "window int, state string, revenue double")
    products = spark.createDataFrame([(1, "p", 3), (2, "q", 4)], "window int, product_id string, orders long")
    frames = [summary, sales, products]
    collected = transforms.untag(transforms.tagged_union(frames).collect(), frames)
    assert [[row.asDict() for row in part] for part in collected] == [
        [row.asDict() for row in frame.collect()] for frame in frames
    ]


def test_batch_summary_counts_dead_letters_repeats_and_late_rows_against_the_earlier_newest_event(spark):
    orders = generated_orders(4, start=NOW, span=timedelta(minutes=4))  # at +0, +1, +2, +3 minutes
    values = [o.record()[1] for o in orders] + [orders[3].record()[1], b"junk"]  # the newest resent
    parsed = parse_orders(records(spark, values, NOW + timedelta(hours=1))).withColumn("repeat", F.col("offset") == 104)
    summary = rows(transforms.batch_summary(parsed, NOW + timedelta(minutes=3, seconds=30), "2 minutes"))[0]
    assert summary == {
        "input_rows": 6,
        "dead_letters": 1,
        "repeats": 1,
        "late_rows": 2,
        "max_event_time": datetime(2026, 11, 23, 10, 3),
        "watermark": datetime(2026, 11, 23, 10, 1, 30),
    }
    first = rows(transforms.batch_summary(parsed, None, "2 minutes"))[0]
    assert (first["late_rows"], first["watermark"]) == (0, None)
