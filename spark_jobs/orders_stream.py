"""Orders from Kafka into Cassandra and MySQL, exactly once in effect.

Usage:
    make submit      # in the background, supervised; log in var/log/spark.log, UI on SPARK_UI_PORT
    make stop-job    # stops after the current micro-batch

    # or in the foreground, as spark_jobs/run.sh does it:
    spark-submit --properties-file spark_jobs/spark-defaults.conf \
        --jars "$(ls jars/*.jar | paste -sd,)" spark_jobs/orders_stream.py

Reads the `orders` topic, checks every record against the order contract
(validation.py), and hands each micro-batch, with the stored orders of its
order_ids (Cassandra, read by key), to transforms.micro_batch, which keeps each
order_id once within IDEMPOTENCY_HORIZON; sinks.BatchWriter writes its outputs:
dead letters to `orders.dlq`, new orders to Cassandra, windows to MySQL in the
transaction that records the batch id and the checkpoint. The checkpoint
($STATE_DIR/checkpoints/orders_stream) makes a restarted job resume after the
last batch; when the query can no longer resume from it, the job says so in
one line and exits with 0 (checkpoint.py: `make upgrade-stream`). SIGTERM lets
the running batch finish, then the job exits with 0; on any failure it exits
non-zero, and its supervisor starts it again.
"""

import signal
import threading

from pyspark import SparkConf
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from pipeline.clients import spark_cassandra_conf
from pipeline.settings import get_settings
from spark_jobs import checkpoint, transforms
from spark_jobs.checkpoint import QUERY_NAME
from spark_jobs.sinks import BatchWriter
from spark_jobs.sources import Customers, read_orders, stored_orders, written_by
from spark_jobs.validation import parse_orders


def stop_after_the_running_batch(query: StreamingQuery, stop: threading.Event) -> None:
    """Wait until the query fails or `stop` is set; then let the running batch finish and stop.

    A batch that starts meanwhile is interrupted; the checkpoint replays it on restart.
    """
    while query.isActive and not stop.wait(1):
        pass
    running = (query.lastProgress or {}).get("batchId")
    while query.isActive and query.status["isTriggerActive"] and (query.lastProgress or {}).get("batchId") == running:
        stop.wait(0.2)
    query.stop()


def main() -> None:
    settings = get_settings()
    # Read before the session (and its UI, the supervisor's sign of a running job) starts.
    state = checkpoint.Checkpoint(settings.checkpoint_uri, QUERY_NAME)
    checkpoint_id = state.query_id()
    committed, committed_in = checkpoint.commit_record(settings, QUERY_NAME)
    given = SparkConf()  # what spark-submit was given
    conf = {name: given.get(name, default) or default for name, default in checkpoint.FIXED_BY_CHECKPOINT.items()}
    refusal = state.refusal(conf, committed_in)
    if refusal:  # exit 0: starting again would not help
        print(refusal, flush=True)
        return
    state.mark()
    # Credentials from the settings, here rather than in spark-submit's arguments, which `ps` shows.
    spark = SparkSession.builder.appName(QUERY_NAME).config(map=spark_cassandra_conf(settings)).getOrCreate()
    customers = Customers(spark, settings)
    stored = stored_orders(spark, settings, transforms.EARLIER_COLUMNS)
    committed_before = written_by(spark, checkpoint.committed_per_checkpoint(settings, QUERY_NAME))
    writer = BatchWriter(
        spark,
        settings,
        QUERY_NAME,
        checkpoint_id,
        committed,
        batch_end=lambda batch_id: state.batch_log("offsets", batch_id)[-1][settings.orders_topic],
    )

    def each_batch(batch: DataFrame, batch_id: int) -> None:
        if writer.already_committed(batch_id):
            return
        # The Kafka read, the validation and the lookup of earlier orders, computed once for every output.
        checked = transforms.against_earlier_orders(
            batch,
            stored,
            written_by(spark, [(checkpoint_id, batch_id)]),
            committed_before,
            settings.idempotency_horizon,
        ).persist()
        try:
            outputs = transforms.micro_batch(
                checked,
                customers.current(),
                writer.newest_event_time,
                settings.window_duration,
                settings.watermark_delay,
            )
            writer.write(batch_id, outputs)
        finally:
            checked.unpersist()

    start = state.starting_offsets(settings.starting_offsets)
    query = (
        parse_orders(read_orders(spark, settings, start))
        .writeStream.queryName(QUERY_NAME)
        .foreachBatch(each_batch)
        .option("checkpointLocation", state.uri)
        .trigger(processingTime=settings.trigger_interval)
        .start()
    )
    print(f"{QUERY_NAME}: started, reading {settings.orders_topic} from {settings.kafka_bootstrap}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop_after_the_running_batch(query, stop)
    query.awaitTermination()  # raises the query's failure, if it failed
    spark.stop()
    print(f"{QUERY_NAME}: stopped", flush=True)


if __name__ == "__main__":
    main()
