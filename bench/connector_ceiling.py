"""Sink ceiling (a): the Cassandra connector writing the stream's rows from memory, with no Kafka and no parse.

Usage (bench/drain.py runs it with spark_jobs/run.sh, so it has the job's spark-submit settings):
    bash spark_jobs/run.sh bench/connector_ceiling.py KEYSPACE ORDERS PRODUCT_ID

Makes ORDERS valid orders of PRODUCT_ID and turns them into the rows a
micro-batch writes, with the stream's own functions (parse_orders,
against_earlier_orders, micro_batch) over a static DataFrame, caches both
tables' rows and counts them; then times the connector writing `orders` and
`orders_by_time` of KEYSPACE together, as the job does. Prints one JSON line:
{"orders": ORDERS, "seconds": ..., "orders_per_s": ...}.
"""

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from pyspark import inheritable_thread_target
from pyspark.sql import SparkSession

from bench import orders
from pipeline.clients import spark_cassandra_conf
from pipeline.settings import get_settings
from spark_jobs import transforms
from spark_jobs.sinks import write_cassandra
from spark_jobs.sources import Customers, written_by
from spark_jobs.validation import parse_orders

RECORDS = "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"
NOTHING_STORED = "order_id string, fingerprint long, first_seen timestamp, created_at timestamp, "
NOTHING_STORED += "checkpoint_id string, batch_id long"


def main(keyspace: str, count: str, product_id: str) -> None:
    settings = get_settings()
    # No UI: the job, running beside it, has SPARK_UI_PORT.
    builder = SparkSession.builder.appName("connector_ceiling").config("spark.ui.enabled", "false")
    spark = builder.config(map=spark_cassandra_conf(settings)).getOrCreate()
    now = datetime.now(UTC)
    records = [
        (key, value, settings.orders_topic, 0, offset, now)
        for offset, (key, value) in enumerate(orders.records(orders.bodies(product_id, int(count))))
    ]
    checked = transforms.against_earlier_orders(
        parse_orders(spark.createDataFrame(records, RECORDS)),
        spark.createDataFrame([], NOTHING_STORED),
        written_by(spark, [("00000000-0000-0000-0000-000000000001", 0)]),
        written_by(spark, []),
        settings.idempotency_horizon,
    )
    batch = transforms.micro_batch(
        checked, Customers(spark, settings).current(), None, settings.window_duration, settings.watermark_delay
    )
    tables = {"orders": batch.orders.cache(), "orders_by_time": batch.orders_by_time.cache()}
    for rows in tables.values():
        rows.count()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(tables)) as pool:
        writes = [
            pool.submit(inheritable_thread_target(write_cassandra), rows, keyspace, table)
            for table, rows in tables.items()
        ]
        for write in writes:
            write.result()
    seconds = time.monotonic() - started
    print(json.dumps({"orders": int(count), "seconds": round(seconds, 3), "orders_per_s": int(count) / seconds}))
    spark.stop()


if __name__ == "__main__":
    main(*sys.argv[1:4])
