"""Drain: a backlog preloaded into Kafka, timed until both stores hold all of it.

Usage:
    python -m bench --only drain
    python -m bench --only drain --scale 0.1   # 20 000 orders instead of 200 000

1. Waits until the Spark job has caught up with the orders topic, then stops
   it (`python -m pipeline.stack down spark`: the running batch finishes first).
2. Produces 200 000 orders (product bench-drain-<run id>) straight to the
   orders topic with the API's producer settings.
3. Starts the job (`python -m pipeline.stack up spark`) and times from that
   command's start until MySQL counts every one of the orders. The MySQL
   transaction is each batch's last write (spark_jobs/sinks.py), so Cassandra
   holds them too by then; the benchmark checks that it does, by order_id.
   Also reported: the rate from when the job answered (the launcher returned), and
   the warm rate: the orders after the first (cold) batch's, from when MySQL first
   counted any, which a longer backlog approaches.
4. Ceilings, each writing as many orders into a scratch keyspace made by the
   project's own migrations (KEYSPACE_ceiling, dropped afterwards):
   (a) the Cassandra connector writing the rows a micro-batch writes, from
       memory, to both tables (bench/connector_ceiling.py, spark-submit with the
       job's settings, in local mode: on a Spark cluster the job holds the
       executors): what the job's sink allows when nothing else is done;
   (b) Cassandra's own write rate from the JVM: the Java driver's asynchronous
       inserts of a row per table per order (bench/CassandraWriteCeiling.java).
   Cassandra has no load tool on Maven Central (cassandra-stress ships only in
   its binary tarball), hence (b) is a small program on the job's driver jar.

The job is left running, also when the phase fails.
"""

import json
import os
import subprocess
import time
from pathlib import Path
from uuid import UUID

import pyspark
from cassandra.concurrent import execute_concurrent_with_args

from bench import HarnessError, orders, stack
from bench.orders import Run
from bench.report import Every, say
from pipeline.settings import REPO_ROOT, Settings
from pipeline.stack.schemas import apply_cassandra, cassandra_admin
from spark_jobs.transforms import ORDERS_BY_TIME_TABLE, ORDERS_TABLE

ORDERS = 200_000  # at scale 1
SELECT = "SELECT order_id FROM orders WHERE order_id IN ?"
IDS_PER_QUERY = 200
JVM_IN_FLIGHT = 256  # ceiling (b): unanswered inserts at once
# The Java driver's jars come with the connector (jars/); its logging API with Spark's.
JVM_CLASSPATH = f"{REPO_ROOT / 'jars'}/*:{Path(pyspark.__file__).parent / 'jars'}/*"


def insert(table: str, columns: list[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def preload(settings: Settings, records: list[tuple[bytes, bytes]]) -> float:
    """Produce records to the orders topic; the seconds it took. HarnessError if any was not acknowledged."""
    # A preload, not a measurement: a long delivery timeout, so a burst queued faster than
    # the broker acknowledges is not failed after the API's 1.5 s.
    producer = stack.kafka_producer(settings, **{"message.timeout.ms": 120_000})
    tick, started = Every(5), time.monotonic()

    def progress(produced: int) -> None:
        if tick():
            say(f"  drain: {produced:,} of {len(records):,} orders produced")

    failed = stack.produce_all(producer, settings.orders_topic, records, progress)
    if failed:
        raise HarnessError(f"drain: Kafka did not acknowledge {failed:,} of the {len(records):,} preloaded orders")
    return time.monotonic() - started


def wait_until_counted(
    settings: Settings, product_id: str, expected: int, started: float
) -> tuple[float, tuple[float, int] | None]:
    """Poll MySQL until it counts `expected` orders of product_id: the monotonic time it did, and the
    time and count of the first poll that found some but not all (the job's first, cold batch
    committed), None when the first it found were all."""
    timeout = 300 + expected / 500  # a cold job's first batches take a minute or more; then far beyond its pace
    tick, first = Every(5), None
    with stack.mysql(settings) as connection:
        while (counted := stack.product_orders(connection, product_id)) < expected:
            if counted and first is None:
                first = (time.monotonic(), counted)
            stack.require_job(settings, "the preloaded orders")
            waited = time.monotonic() - started
            if waited > timeout:
                raise HarnessError(
                    f"drain: after {waited:.0f} s MySQL counts {counted:,} of the {expected:,} "
                    f"preloaded orders of product {product_id}"
                )
            if tick():
                say(f"  drain: {waited:.0f} s, MySQL counts {counted:,} of {expected:,} ({counted / waited:,.0f}/s)")
            time.sleep(0.2)
    if counted > expected:
        raise HarnessError(
            f"drain: MySQL counts {counted:,} orders of product {product_id}, "
            f"{expected:,} were produced: some were counted twice"
        )
    return time.monotonic(), first


def found_in_cassandra(session, order_ids: list[UUID]) -> int:
    select = session.prepare(SELECT)
    chunks = [(order_ids[i : i + IDS_PER_QUERY],) for i in range(0, len(order_ids), IDS_PER_QUERY)]
    answers = execute_concurrent_with_args(session, select, chunks, concurrency=16)
    return sum(len(rows.current_rows) for _, rows in answers)


def json_line(settings: Settings, command: list[str], name: str, env: dict[str, str] | None = None) -> dict:
    """The last line of the command's output, a JSON object; its output goes to a log named `name`,
    which a HarnessError names when it fails."""
    log = settings.state_path / "log" / f"{name}.log"
    with log.open("w") as output:
        done = subprocess.run(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=output, text=True, env=env)
        output.write(done.stdout)
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines or not lines[-1].startswith("{"):
        raise HarnessError(f"drain: {name} failed (exit {done.returncode}); read {log}")
    return json.loads(lines[-1])


def ceilings(settings: Settings, count: int, product_id: str) -> dict[str, dict]:
    """Ceilings (a) and (b), each writing `count` orders into a scratch copy of the keyspace."""
    scratch = settings.model_copy(update={"cassandra_keyspace": f"{settings.cassandra_keyspace}_ceiling"})
    apply_cassandra(scratch)
    try:
        say(f"drain ceiling (a): the connector writes {count:,} orders' rows to both tables from memory")
        # In the driver's JVM: on a Spark cluster the job holds the executors' cores.
        local = f"--master local[*] --conf spark.pyspark.python={REPO_ROOT / '.venv/bin/python'}"
        connector = json_line(
            settings,
            stack.spark_script("bench/connector_ceiling.py", scratch.cassandra_keyspace, str(count), product_id),
            "drain-ceiling-connector",
            env={**os.environ, "SPARK_SUBMIT_ARGS": f"{settings.spark_submit_args} {local}"},
        )
        say(f"drain ceiling (a): {connector['orders_per_s']:,.0f} orders/s")
        say(f"drain ceiling (b): the Java driver inserts {count:,} orders' rows, {JVM_IN_FLIGHT} in flight")
        jvm = json_line(
            settings,
            [
                "java",
                "-cp",
                JVM_CLASSPATH,
                "bench/CassandraWriteCeiling.java",
                f"{settings.cassandra_nodes[0]}:{settings.cassandra_port}",
                settings.cassandra_local_dc,
                scratch.cassandra_keyspace,
                str(count),
                str(JVM_IN_FLIGHT),
                insert("orders", ORDERS_TABLE),
                insert("orders_by_time", ORDERS_BY_TIME_TABLE),
            ],
            "drain-ceiling-jvm",
            env={
                **os.environ,
                "CASSANDRA_USERNAME": settings.cassandra_username,
                "CASSANDRA_PASSWORD": settings.cassandra_password.get_secret_value(),
            },
        )
        say(f"drain ceiling (b): {jvm['orders_per_s']:,.0f} orders/s ({jvm['failed']:,} failed)")
    finally:
        cluster = cassandra_admin(settings)
        try:
            cluster.connect().execute(f"DROP KEYSPACE IF EXISTS {scratch.cassandra_keyspace}", timeout=120)
        finally:
            cluster.shutdown()
    return {"connector": connector, "jvm": jvm}


def run(settings: Settings, bench_run: Run) -> dict:
    say("drain: waiting until the Spark job has caught up with the orders topic")
    caught_up = stack.wait_until_job_caught_up(settings, bench_run.product_id("drain-sync"))
    product_id = bench_run.product_id("drain")
    records = orders.records(orders.bodies(product_id, bench_run.count(ORDERS, minimum=500)))
    say(f"drain: caught up after {caught_up:.1f} s; stopping the Spark job")
    stack.launcher("down", "spark")
    try:
        say(f"drain: producing {len(records):,} orders straight to {settings.orders_topic}")
        preloaded = preload(settings, records)
        say(f"drain: {len(records):,} orders produced in {preloaded:.1f} s; starting the Spark job")
        started = time.monotonic()
        stack.launcher("up", "spark")
        answered = time.monotonic()
        say(f"drain: the job answers after {answered - started:.1f} s; waiting until MySQL counts every order")
        done, first = wait_until_counted(settings, product_id, len(records), started)
    finally:
        if not stack.job_running(settings):
            stack.launcher("up", "spark")
    seconds = done - started
    say(
        f"drain: {len(records):,} orders in {seconds:.1f} s from the job's start, {len(records) / seconds:,.0f} "
        "orders/s; checking Cassandra holds every one"
    )
    with stack.cassandra(settings) as session:
        found = found_in_cassandra(session, [UUID(json.loads(value)["order_id"]) for _, value in records])
    if found != len(records):
        raise HarnessError(
            f"drain: MySQL counts all {len(records):,} orders of product {product_id}, "
            f"but Cassandra's orders table holds {found:,} of them"
        )
    ceiling = ceilings(settings, len(records), bench_run.product_id("drain-ceiling"))
    return {
        "product_id": product_id,
        "orders": len(records),
        "caught_up_s": round(caught_up, 1),
        "preload_s": round(preloaded, 1),
        "job_answering_s": round(answered - started, 1),
        "seconds": round(seconds, 3),
        "orders_per_s": len(records) / seconds,
        "orders_per_s_after_answering": len(records) / (done - answered),
        # Once the first (cold) batch has committed: the pace of a warm job.
        "orders_per_s_warm": (len(records) - first[1]) / (done - first[0]) if first else None,
        "cassandra_found": found,
        "ceiling": ceiling,
        "of_connector": len(records) / seconds / ceiling["connector"]["orders_per_s"],
        "of_jvm": len(records) / seconds / ceiling["jvm"]["orders_per_s"],
    }
