"""The engine floor: the orders stream's source and parse, and nothing after them.

Usage (bench/floor.py starts it on the benchmark's stack, with the job stopped):
    bash spark_jobs/run.sh bench/floor_query.py CHECKPOINT_DIR COUNTS_FILE

The same spark-submit settings as the orders stream (run.sh, spark-defaults.conf),
the same Kafka source options (MAX_OFFSETS_PER_TRIGGER, TRIGGER_INTERVAL), from
the topic's end, and the same parse_orders: each record is read, parsed and
checked against the order contract. Each micro-batch then runs one Spark job,
the least that makes the parse happen: it collects the product_id of every
valid record, and appends one JSON line to COUNTS_FILE: the wall-clock time the
batch finished and its valid orders per product. No lookup, no write, no
commit: what a micro-batch costs the engine, which the stream cannot beat.
"""

import json
import sys
import time
from collections import Counter

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipeline.settings import get_settings
from spark_jobs.sources import read_orders
from spark_jobs.validation import parse_orders


def main(checkpoint: str, counts_file: str) -> None:
    settings = get_settings()
    spark = SparkSession.builder.appName("engine_floor").getOrCreate()
    with open(counts_file, "a") as counts:

        def each_batch(batch: DataFrame, batch_id: int) -> None:
            valid = batch.where(F.col("error").isNull()).select("product_id").collect()
            products = Counter(row.product_id for row in valid)
            counts.write(json.dumps({"batch_id": batch_id, "done_at": time.time(), "products": products}) + "\n")
            counts.flush()

        query = (
            parse_orders(read_orders(spark, settings, "latest"))
            .writeStream.foreachBatch(each_batch)
            .option("checkpointLocation", checkpoint)
            .trigger(processingTime=settings.trigger_interval)
            .start()
        )
        print(f"engine_floor: started, reading {settings.orders_topic}", flush=True)
        query.awaitTermination()


if __name__ == "__main__":
    main(*sys.argv[1:3])
