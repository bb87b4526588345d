"""The stream's business logic (spark_jobs/transforms.py) on static DataFrames, like Flink's SpendReport test."""

from datetime import UTC, date, datetime, timedelta

import pandas as pd
from pyspark.sql import functions as F

from spark_jobs import transforms
from spark_jobs.validation import parse_orders
from tests import reference
from tests.unit.frames import NOW, generated_orders, records, rows


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
    assert [row["order_id"] for row in rows(transforms.valid_orders(parsed))] == [str(generated_orders(1)[0].order_id)]
    # Only dead letters carry their bytes on through the shuffle and the cache.
    assert [row["value"] is None for row in sorted(rows(parsed), key=lambda row: row["offset"])] == [True, False]


def test_repeated_order_ids_are_kept_once_and_rejected_records_never_merge(spark):
    order = generated_orders(1)[0].record()[1]
    parsed = parse_orders(records(spark, [order, order, order, b"bad", b"bad"]))
    unique = rows(transforms.deduplicate(parsed, "2 minutes"))
    assert sorted(row["error"] is None for row in unique) == [False, False, True]


def test_unknown_customers_are_kept_under_the_unknown_state(spark):
    orders = transforms.valid_orders(
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
    parsed = transforms.valid_orders(parse_orders(records(spark, [o.record()[1] for o in orders])))
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
    """Bounded input through the stream's own steps: parse, dedup, then every output of micro_batch."""
    orders = generated_orders(1000, seed=11, start=NOW - timedelta(minutes=3))  # across an hour's edge
    resent = [order.record()[1] for order in orders[:100]]  # a client retrying: counted once
    values = [order.record()[1] for order in orders] + resent + [b"junk", b'{"quantity": 1}']
    checked = transforms.deduplicate(parse_orders(records(spark, values, NOW + timedelta(hours=1))), "2 minutes")
    checked.persist()  # as the stream does: parsed once for every output
    states = reference.customer_states()
    customers = spark.createDataFrame(pd.DataFrame({"customer_id": list(states), "state": list(states.values())}))

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
    assert (summary["input_rows"], summary["dead_letters"], summary["late_rows"]) == (1002, 2, 0)
    assert summary["max_event_time"] == max(o.created_at for o in orders).replace(tzinfo=None)


def test_batch_summary_counts_dead_letters_and_late_rows_against_the_earlier_newest_event(spark):
    orders = generated_orders(4, start=NOW, span=timedelta(minutes=4))  # at +0, +1, +2, +3 minutes
    parsed = parse_orders(records(spark, [o.record()[1] for o in orders] + [b"junk"], NOW + timedelta(hours=1)))
    summary = rows(transforms.batch_summary(parsed, NOW + timedelta(minutes=3, seconds=30), "2 minutes"))[0]
    assert summary == {
        "input_rows": 5,
        "dead_letters": 1,
        "late_rows": 2,
        "max_event_time": datetime(2026, 11, 23, 10, 3),
        "watermark": datetime(2026, 11, 23, 10, 1, 30),
    }
    first = rows(transforms.batch_summary(parsed, None, "2 minutes"))[0]
    assert (first["late_rows"], first["watermark"]) == (0, None)
