"""Orders from Kafka into Cassandra and MySQL, exactly once in effect.

Usage:
    make submit      # in the background; log in var/log/spark.log, UI on SPARK_UI_PORT
    make stop-job    # stops after the current micro-batch

    # or in the foreground, as spark_jobs/run.sh does it:
    spark-submit --master 'local[*]' --jars "$(ls jars/*.jar | paste -sd,)" spark_jobs/orders_stream.py

Reads the `orders` topic, validates every record against the order contract,
drops repeated order_ids, and per micro-batch: sends rejected records to
`orders.dlq`, writes every valid order to Cassandra (`orders`,
`orders_by_time`) and adds its minute windows to MySQL (`sales_by_minute`,
`product_sales_by_minute`) in the transaction that records the batch id.
Settings come from .env (pipeline/settings.py); the checkpoint lives in
$STATE_DIR/checkpoints/orders_stream, so a restart resumes after the last batch.
"""
import signal
import threading
import time

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from pipeline.settings import Settings, get_settings
from spark_jobs import transforms
from spark_jobs.sinks import BatchWriter

QUERY_NAME = "orders_stream"


def session(settings: Settings) -> SparkSession:
    return (SparkSession.builder.appName(QUERY_NAME)
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.shuffle.partitions", settings.spark_shuffle_partitions)
            .config("spark.cassandra.connection.host", settings.cassandra_host)
            .config("spark.cassandra.connection.port", settings.cassandra_port)
            # Orders are one partition each: unlogged batches of 32 rows (~9 KiB, under
            # Cassandra's batch warning) per replica set doubled the write rate over
            # one statement per row.
            .config("spark.cassandra.output.batch.grouping.key", "replica_set")
            .config("spark.cassandra.output.batch.size.rows", 32)
            .getOrCreate())


def read_orders(spark: SparkSession, settings: Settings) -> DataFrame:
    return (spark.readStream.format("kafka")
            .option("kafka.bootstrap.servers", settings.kafka_bootstrap)
            .option("subscribe", settings.orders_topic)
            .option("startingOffsets", settings.starting_offsets)
            .option("maxOffsetsPerTrigger", settings.max_offsets_per_trigger)
            .load())


def transform(records: DataFrame, settings: Settings) -> DataFrame:
    return transforms.deduplicate(transforms.parse_orders(records), settings.watermark_delay)


def run_until_terminated(query: StreamingQuery) -> None:
    """Block until the query fails or SIGTERM arrives; then let the running batch finish and stop.

    A batch that starts meanwhile is interrupted; the checkpoint replays it on restart.
    """
    terminate = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: terminate.set())
    while query.isActive and not terminate.wait(1):
        pass
    running = (query.lastProgress or {}).get("batchId")
    while query.isActive and query.status["isTriggerActive"] and (query.lastProgress or {}).get("batchId") == running:
        time.sleep(0.2)
    query.stop()
    if query.exception():
        raise query.exception()


def main() -> None:
    settings = get_settings()
    spark = session(settings)
    query = (transform(read_orders(spark, settings), settings).writeStream
             .queryName(QUERY_NAME)
             .foreachBatch(BatchWriter(spark, settings, QUERY_NAME))
             .option("checkpointLocation", str(settings.checkpoint_path / QUERY_NAME))
             .trigger(processingTime=settings.trigger_interval)
             .start())
    print(f"{QUERY_NAME}: started, reading {settings.orders_topic} from {settings.kafka_bootstrap}", flush=True)
    try:
        run_until_terminated(query)
    finally:
        spark.stop()
    print(f"{QUERY_NAME}: stopped", flush=True)


if __name__ == "__main__":
    main()
