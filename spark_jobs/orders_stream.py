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
When the query fails (Kafka, Cassandra or MySQL unreachable), it is started
again from the checkpoint, with a growing pause, until STREAM_RESTART_SECONDS
pass without a batch getting through; then the job exits with the error.
When only a new JVM can go on (a stuck Cassandra session, a batch running
longer than STREAM_BATCH_TIMEOUT_SECONDS), the job exits with EX_TEMPFAIL (75)
and spark_jobs/run.sh starts it again.
"""

import os
import re
import signal
import threading
import time

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from pipeline.settings import Settings, get_settings
from spark_jobs import transforms
from spark_jobs.sinks import BatchWriter

QUERY_NAME = "orders_stream"
# A line naming an exception, in a Python traceback ("pymysql.err.OperationalError: (2003, ...)")
# or in the Java error py4j wraps (": java.io.IOException: Failed to open native connection ...").
EXCEPTION_LINE = re.compile(r"^(?::\s*)?([A-Za-z_][\w.$]*(?:Error|Exception)\b.*)")


def session(settings: Settings) -> SparkSession:
    return (
        SparkSession.builder.appName(QUERY_NAME)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", settings.spark_shuffle_partitions)
        # No batch without new records: the dedup state is evicted as the next batch runs,
        # and an empty batch would only take its turn in front of one with orders.
        .config("spark.sql.streaming.noDataMicroBatches.enabled", False)
        # Without Hadoop's native library, every file its local file system creates costs a
        # `chmod` process and every FileContext rename `readlink` ones: about 5 a batch for the
        # offset and commit logs and 15 for the state store. The FileSystem-based manager and
        # the raw local file system (no .crc file beside each) spawn a third as many, and the
        # two log writes of a batch take 13 ms instead of 45 (median).
        .config(
            "spark.sql.streaming.checkpointFileManagerClass",
            "org.apache.spark.sql.execution.streaming.FileSystemBasedCheckpointFileManager",
        )
        .config("spark.hadoop.fs.file.impl", "org.apache.hadoop.fs.RawLocalFileSystem")
        # The dedup state in RocksDB, each batch's changes logged beside it: the default store
        # copies its whole map every batch, and after a backlog that map holds every order of
        # the last WATERMARK_DELAY. A checkpoint keeps the store it was made with.
        .config(
            "spark.sql.streaming.stateStore.providerClass",
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
        )
        .config("spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled", True)
        # Each batch adds ~6 jobs, 15 stages and 6 SQL executions to the UI's store; 200
        # jobs are the last 30-odd batches, what one looks at, instead of a thousand.
        .config("spark.ui.retainedJobs", 200)
        .config("spark.ui.retainedStages", 200)
        .config("spark.ui.retainedTasks", 5000)
        .config("spark.sql.ui.retainedExecutions", 100)
        .config("spark.cassandra.connection.host", settings.cassandra_host)
        .config("spark.cassandra.connection.port", settings.cassandra_port)
        # Orders are one partition each: unlogged batches of 32 rows (~9 KiB, under
        # Cassandra's batch warning) per replica set doubled the write rate over
        # one statement per row.
        .config("spark.cassandra.output.batch.grouping.key", "replica_set")
        .config("spark.cassandra.output.batch.size.rows", 32)
        .getOrCreate()
    )


def read_orders(spark: SparkSession, settings: Settings) -> DataFrame:
    return (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka_bootstrap)
        .option("subscribe", settings.orders_topic)
        .option("startingOffsets", settings.starting_offsets)
        .option("maxOffsetsPerTrigger", settings.max_offsets_per_trigger)
        .load()
    )


def transform(records: DataFrame, settings: Settings) -> DataFrame:
    return transforms.deduplicate(transforms.parse_orders(records), settings.watermark_delay)


def start(spark: SparkSession, settings: Settings, writer: BatchWriter) -> StreamingQuery:
    return (
        transform(read_orders(spark, settings), settings)
        .writeStream.queryName(QUERY_NAME)
        .foreachBatch(writer)
        .option("checkpointLocation", str(settings.checkpoint_path / QUERY_NAME))
        .trigger(processingTime=settings.trigger_interval)
        .start()
    )


def run_until_terminated(query: StreamingQuery, terminate: threading.Event) -> None:
    """Block until the query fails or `terminate` is set; then let the running batch finish and stop.

    A batch that starts meanwhile is interrupted; the checkpoint replays it on restart.
    """
    while query.isActive and not terminate.wait(1):
        pass
    running = (query.lastProgress or {}).get("batchId")
    while query.isActive and query.status["isTriggerActive"] and (query.lastProgress or {}).get("batchId") == running:
        time.sleep(0.2)
    query.stop()
    if query.exception():
        raise query.exception()


def failure_reason(error: Exception) -> str:
    """One line saying what went wrong: the innermost exception named in the message (a failed
    batch reaches here as Python and Java errors wrapped in each other), else its first line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    named = [found.group(1) for found in map(EXCEPTION_LINE.match, lines) if found]
    return (named[-1] if named else lines[0] if lines else type(error).__name__)[:300]


def watch(writers: list[BatchWriter], timeout: float, terminate: threading.Event) -> None:
    """Exit the job with EX_TEMPFAIL when a batch of the newest writer has been running for `timeout` s:
    a call into a store's client that never returns cannot be interrupted from here. spark_jobs/run.sh
    starts the job again, and the checkpoint replays the batch."""

    def check() -> None:
        while not terminate.wait(5):
            since = writers[-1].running_since if writers else None
            if since is not None and time.monotonic() - since > timeout:
                print(
                    f"{QUERY_NAME}: a batch has been running for more than {timeout:.0f} s "
                    "(STREAM_BATCH_TIMEOUT_SECONDS); exiting for spark_jobs/run.sh to start the job again",
                    flush=True,
                )
                os._exit(os.EX_TEMPFAIL)

    threading.Thread(target=check, name="batch watchdog", daemon=True).start()


def run_restarting(spark: SparkSession, settings: Settings, terminate: threading.Event) -> None:
    """Run the query until `terminate`; after a failure start it again from the checkpoint.

    The replayed batch is harmless (see spark_jobs/sinks.py). Gives up, raising
    the last error, once STREAM_RESTART_SECONDS pass without a completed batch.
    """
    pause, failing_since, last_batch = 1.0, None, None
    writers: list[BatchWriter] = []
    watch(writers, settings.stream_batch_timeout_seconds, terminate)
    while not terminate.is_set():
        query = None
        try:
            writers[:] = [BatchWriter(spark, settings, QUERY_NAME)]
            query = start(spark, settings, writers[-1])
            print(f"{QUERY_NAME}: started, reading {settings.orders_topic} from {settings.kafka_bootstrap}", flush=True)
            run_until_terminated(query, terminate)
            return
        except Exception as error:
            batch = (query.lastProgress or {}).get("batchId") if query else None
            if batch is not None and batch != last_batch:  # batches got through since the last failure
                pause, failing_since, last_batch = 1.0, None, batch
            failing_since = failing_since or time.monotonic()
            if time.monotonic() - failing_since > settings.stream_restart_seconds:
                raise
            print(
                f"{QUERY_NAME}: failed: {failure_reason(error)}; starting again from the checkpoint in {pause:.0f} s "
                f"(giving up after {settings.stream_restart_seconds:.0f} s without a batch)",
                flush=True,
            )
            terminate.wait(pause)
            pause = min(pause * 2, 30.0)


def main() -> None:
    settings = get_settings()
    spark = session(settings)
    terminate = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: terminate.set())
    try:
        run_restarting(spark, settings, terminate)
    finally:
        spark.stop()
    print(f"{QUERY_NAME}: stopped", flush=True)


if __name__ == "__main__":
    main()
