"""Reconcile and backfill: MySQL's windows against the raw orders Cassandra holds, and put right.

Usage:
    make reconcile [FROM=2026-12-05T00:00 TO=2026-12-06T00:00]   # default: the last 24 hours
    make backfill FROM=2026-12-05T00:00 TO=2026-12-06T00:00
    # as make runs them (the stream may run meanwhile):
    spark_jobs/run.sh spark_jobs/reconcile.py {reconcile,backfill} [--from FROM] [--to TO]

Cassandra's raw orders are the system of record. For each hour of [FROM, TO)
(UTC, whole hours) this reads the orders of that hour from `orders_by_time`,
a (day, minute) partition at a time by key, and computes their minute windows
and the hour's rollup with the stream's own functions
(transforms.sales_by_minute, product_sales_by_minute, roll_up).

The fence. MySQL counts an order once the batch that stored it has committed;
every row in Cassandra says which batch that was. Each hour starts with a
consistent snapshot of MySQL: the last committed batch and the hour's windows.
Every batch up to that one wrote Cassandra before it committed, so the rows
read afterwards hold all of their orders; rows of later batches are left out
(transforms.counted_by_mysql). Computed and snapshot then describe the same
batches, while the stream runs on.

reconcile prints every window that differs (table, key, MySQL's orders,
units and revenue, the raw store's), then a summary, and exits 0 when all
agree, 1 when not; it also checks that each whole day equals its hours.

backfill puts the difference right: under the lock the stream's own commit
takes (stream_commits, FOR UPDATE), it reads the hour's windows again; each
window becomes the recomputed value plus what batches committed since the
snapshot added (now minus snapshot), so a live batch's increment is neither
lost nor doubled, and the day's rollup is summed again from its hours. The
lock is held for those MySQL statements only, never while Cassandra is read.

Minute and hour windows older than MINUTE_WINDOWS_KEEP_DAYS and
HOUR_WINDOWS_KEEP_DAYS are left alone: retention purged them on purpose.
"""

import argparse
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pymysql
from py4j.protocol import Py4JJavaError
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipeline.clients import cassandra_cluster, mysql_connection, spark_cassandra_conf
from pipeline.settings import Settings, get_settings
from spark_jobs import transforms
from spark_jobs.checkpoint import COMMITTED, COMMITTED_PER_CHECKPOINT, QUERY_NAME
from spark_jobs.sinks import WINDOW_TABLES, add_windows
from spark_jobs.sources import written_by

CENT = Decimal("0.01")
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
Totals = tuple[int, int, Decimal]  # orders, units, revenue
Windows = dict[tuple, Totals]  # by key: window_start, window_end, dimensions...


def hours(start: datetime, end: datetime) -> Iterator[datetime]:
    at = start.replace(minute=0, second=0, microsecond=0)
    while at < end:
        yield at
        at += HOUR


def table_of(minutes: str, period: str) -> str:
    return minutes.replace("_minute", f"_{period}")


class Snapshot:
    """What MySQL says of one hour at one moment: the last committed batch of each checkpoint and
    the hour's windows, read in one consistent snapshot (or, `locked`, under the stream's lock)."""

    def __init__(self, cursor, settings: Settings, hour: datetime, periods: list[str]):
        cursor.execute(COMMITTED, (QUERY_NAME,))
        self.last_batch: int
        self.checkpoint_id: str
        self.last_batch, self.checkpoint_id = cursor.fetchone() or (-1, "")
        cursor.execute(COMMITTED_PER_CHECKPOINT, (QUERY_NAME,))
        self.committed_per_checkpoint = list(cursor.fetchall())
        self.windows: dict[str, Windows] = {}
        for minutes, dimensions in WINDOW_TABLES.items():
            for period in periods:
                table = table_of(minutes, period)
                columns = ", ".join(("window_start", "window_end", *dimensions, "orders", "units", "revenue"))
                cursor.execute(
                    f"SELECT {columns} FROM {table} WHERE window_start >= %s AND window_start < %s",
                    (hour, hour + HOUR),
                )
                self.windows[table] = {tuple(row[:-3]): tuple(row[-3:]) for row in cursor.fetchall()}


def stored_orders_of(spark: SparkSession, settings: Settings, hour: datetime) -> DataFrame:
    """The raw orders of one hour: `orders_by_time`, joined by its partition key (day, minute of the day)."""
    keys = spark.createDataFrame(
        [(hour.date(), hour.hour * 60 + minute) for minute in range(60)], "day date, bucket smallint"
    )
    table = (
        spark.read.format("org.apache.spark.sql.cassandra")
        .options(keyspace=settings.cassandra_keyspace, table="orders_by_time", directJoinSetting="on")
        .load()
    )
    return keys.join(table, ["day", "bucket"])


def recomputed(spark: SparkSession, settings: Settings, hour: datetime, snapshot: Snapshot) -> tuple[dict, int]:
    """The hour's windows from the raw orders the snapshot's batches stored, by table; and how many orders."""
    done = written_by(spark, snapshot.committed_per_checkpoint).withColumnRenamed("batch_id", "done")
    current = written_by(spark, [(snapshot.checkpoint_id, snapshot.last_batch)]).select(
        F.col("checkpoint_id").alias("current"), F.col("batch_id").alias("last_committed")
    )
    orders = (
        stored_orders_of(spark, settings, hour)
        .join(F.broadcast(done), "checkpoint_id", "left")
        .crossJoin(F.broadcast(current))
        .where(transforms.counted_by_mysql("checkpoint_id", "batch_id", "current", F.col("last_committed"), "done"))
        .cache()
    )
    try:
        count = orders.count()
        windows = {
            "sales_by_minute": transforms.sales_by_minute(orders, settings.window_duration).collect(),
            "product_sales_by_minute": transforms.product_sales_by_minute(orders, settings.window_duration).collect(),
        }
    finally:
        orders.unpersist()
    found: dict[str, Windows] = {}
    for minutes, rows in windows.items():
        found[minutes] = by_key(rows)
        found[table_of(minutes, "hour")] = by_key(transforms.roll_up(rows, HOUR))
    return found, count


def by_key(rows: Iterable[tuple]) -> Windows:
    """Window rows (key..., orders, units, revenue) by key, revenue in cents as MySQL keeps it
    (Cassandra's decimals come through Spark with 18 places)."""
    return {tuple(row[:-3]): (row[-3], row[-2], row[-1].quantize(CENT)) for row in rows}


def differences(mysql: Windows, raw: Windows) -> list[tuple[tuple, tuple | None, tuple | None]]:
    return [
        (key, mysql.get(key), raw.get(key)) for key in sorted(set(mysql) | set(raw)) if mysql.get(key) != raw.get(key)
    ]


def backfilled(recomputed: Windows, now: Windows, snapshot: Windows) -> Windows:
    """Each window as recomputed from the raw store, plus what batches committed since the snapshot
    added to it (now - snapshot): those batches' orders were left out of the recomputation."""
    zero: Totals = (0, 0, Decimal(0))
    result: Windows = {}
    for key in set(recomputed) | set(now) | set(snapshot):
        (r_orders, r_units, r_revenue), (n_orders, n_units, n_revenue), (s_orders, s_units, s_revenue) = (
            totals.get(key, zero) for totals in (recomputed, now, snapshot)
        )
        result[key] = (r_orders + n_orders - s_orders, r_units + n_units - s_units, r_revenue + n_revenue - s_revenue)
    return result


def shown(totals: tuple | None) -> str:
    return "none" if totals is None else f"{totals[0]} orders, {totals[1]} units, {totals[2]}"


class Reconciler:
    def __init__(self, spark: SparkSession, settings: Settings, backfill: bool):
        self.spark, self.settings, self.backfill = spark, settings, backfill
        now = datetime.now(UTC).replace(tzinfo=None)
        self.kept = {  # windows older than their retention were purged on purpose
            "minute": now - timedelta(days=settings.minute_windows_keep_days or 100_000),
            "hour": now - timedelta(days=settings.hour_windows_keep_days or 100_000),
        }
        self.counts: Counter = Counter()

    def periods(self, hour: datetime) -> list[str]:
        return [period for period, since in self.kept.items() if hour >= since]

    def hour(self, hour: datetime) -> None:
        periods = self.periods(hour)
        with mysql_connection(self.settings) as connection, connection.cursor() as cursor:
            cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            before = Snapshot(cursor, self.settings, hour, periods)
            connection.commit()
        raw, orders = recomputed(self.spark, self.settings, hour, before)
        self.counts["orders read"] += orders
        differ = 0
        for table in before.windows:
            found = differences(before.windows[table], raw[table])
            self.counts["windows compared"] += len(set(before.windows[table]) | set(raw[table]))
            differ += len(found)
            for key, mysql, recomputed_totals in found:
                where = " ".join(map(str, key))
                print(f"  differs {table} {where}: mysql {shown(mysql)}; raw store {shown(recomputed_totals)}")
        self.counts["windows differing"] += differ
        if self.backfill and differ:
            self.replace(hour, periods, before, raw)

    def replace(self, hour: datetime, periods: list[str], before: Snapshot, raw: dict[str, Windows]) -> None:
        """The hour's windows := recomputed + (now - snapshot), under the stream's commit lock."""
        with mysql_connection(self.settings) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT batch_id FROM stream_commits WHERE query_name = %s FOR UPDATE", (QUERY_NAME,))
            now = Snapshot(cursor, self.settings, hour, periods)
            for minutes, dimensions in WINDOW_TABLES.items():
                for period in periods:
                    table = table_of(minutes, period)
                    totals = backfilled(raw[table], now.windows[table], before.windows[table])
                    cursor.execute(
                        f"DELETE FROM {table} WHERE window_start >= %s AND window_start < %s", (hour, hour + HOUR)
                    )
                    rows = [(*key, *value) for key, value in totals.items() if value[0]]
                    cursor.executemany(add_windows(table, dimensions), rows)
                    self.counts["windows written"] += len(rows)
                if "hour" in periods:
                    self.sum_day(cursor, minutes, dimensions, hour.replace(hour=0))
            connection.commit()

    def sum_day(self, cursor, minutes: str, dimensions: tuple[str, ...], day: datetime) -> None:
        """The day's rollup summed again from its hours (inside the lock)."""
        columns = ", ".join(dimensions)
        cursor.execute(f"DELETE FROM {table_of(minutes, 'day')} WHERE window_start = %s", (day,))
        cursor.execute(
            f"INSERT INTO {table_of(minutes, 'day')} (window_start, window_end, {columns}, orders, units, revenue) "
            f"SELECT %s, %s, {columns}, SUM(orders), SUM(units), SUM(revenue) FROM {table_of(minutes, 'hour')} "
            f"WHERE window_start >= %s AND window_start < %s GROUP BY {columns}",
            (day, day + DAY, day, day + DAY),
        )

    def days_equal_their_hours(self, start: datetime, end: datetime) -> None:
        """Each whole day of [start, end) whose hours are all kept: its rollup equals the sum of its hours."""
        day = start.replace(hour=0) + (DAY if start.hour else timedelta(0))
        with mysql_connection(self.settings) as connection, connection.cursor() as cursor:
            while day + DAY <= end:
                if day >= self.kept["hour"]:
                    for minutes, dimensions in WINDOW_TABLES.items():
                        columns = ", ".join(dimensions)
                        cursor.execute(
                            f"SELECT {columns}, orders, units, revenue FROM {table_of(minutes, 'day')} "
                            f"WHERE window_start = %s",
                            (day,),
                        )
                        stored = {tuple(row[:-3]): tuple(row[-3:]) for row in cursor.fetchall()}
                        cursor.execute(
                            f"SELECT {columns}, SUM(orders), SUM(units), SUM(revenue) FROM {table_of(minutes, 'hour')} "
                            f"WHERE window_start >= %s AND window_start < %s GROUP BY {columns}",
                            (day, day + DAY),
                        )
                        summed = {tuple(row[:-3]): tuple(row[-3:]) for row in cursor.fetchall()}
                        found = differences(stored, summed)
                        self.counts["windows compared"] += len(set(stored) | set(summed))
                        self.counts["windows differing"] += len(found)
                        for key, mysql, hours_total in found:
                            print(
                                f"  differs {table_of(minutes, 'day')} {day:%Y-%m-%d} {' '.join(map(str, key))}: "
                                f"mysql {shown(mysql)}; its hours {shown(hours_total)}"
                            )
                day += DAY


def span(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    """[FROM, TO) in whole UTC hours from ISO 8601 times (naive ones are UTC); default the last 24 hours."""

    def utc(text: str) -> datetime:
        at = datetime.fromisoformat(text)
        return (at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)).replace(tzinfo=None)

    until = utc(end) if end else datetime.now(UTC).replace(tzinfo=None)
    since = utc(start) if start else until - DAY
    since = since.replace(minute=0, second=0, microsecond=0)
    whole = until.replace(minute=0, second=0, microsecond=0)
    until = whole + HOUR if until > whole else whole
    if since >= until:
        raise ValueError(f"FROM ({since}) must be before TO ({until})")
    return since, until


def reachable(settings: Settings) -> str | None:
    """Why Cassandra or MySQL cannot be reached, in one line; None when both answer."""
    try:
        cassandra_cluster(settings).connect().shutdown()
    except Exception as error:  # any driver error: the line says which store and where
        return f"cassandra at {','.join(settings.cassandra_nodes)}:{settings.cassandra_port} cannot be reached: {error}"
    try:
        mysql_connection(settings).close()
    except pymysql.MySQLError as error:
        return f"mysql at {settings.mysql_host}:{settings.mysql_port} cannot be reached: {error}"
    return None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="reconcile.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["reconcile", "backfill"])
    parser.add_argument("--from", dest="start", help="ISO 8601, UTC unless it says (default: TO - 24 hours)")
    parser.add_argument("--to", dest="end", help="ISO 8601, UTC unless it says (default: now)")
    args = parser.parse_args(argv)
    settings = get_settings()
    try:
        start, end = span(args.start, args.end)
    except ValueError as error:
        print(f"{args.action}: {error}", file=sys.stderr)
        return 2
    if problem := reachable(settings):
        print(f"{args.action}: {problem}", file=sys.stderr)
        return 2
    spark = (
        SparkSession.builder.appName(f"orders_{args.action}")
        .config("spark.ui.enabled", "false")  # the stream's UI has SPARK_UI_PORT
        # Adaptive execution canonicalizes every exchange, and the connector's direct join cannot
        # be (spark-defaults.conf); a few hundred thousand rows an hour need none of it.
        .config("spark.sql.adaptive.enabled", "false")
        .config(map=spark_cassandra_conf(settings))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    job = Reconciler(spark, settings, backfill=args.action == "backfill")
    chosen = list(hours(start, end))
    began = time.monotonic()
    print(f"{args.action}: {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC, {len(chosen)} hours", flush=True)
    try:
        for done, hour in enumerate(chosen, 1):
            job.hour(hour)
            print(
                f"[{done}/{len(chosen)}] {hour:%Y-%m-%d %H:00}: {job.counts['orders read']:,} orders read, "
                f"{job.counts['windows compared']:,} windows compared, {job.counts['windows differing']:,} differ",
                flush=True,
            )
        job.days_equal_their_hours(start, end)
    except (pymysql.MySQLError, Py4JJavaError) as error:
        problem = reachable(settings) or str(error).splitlines()[0]
        print(f"{args.action}: stopped: {problem}", file=sys.stderr)
        return 2
    seconds = time.monotonic() - began
    counts = job.counts
    print(
        f"{args.action}: {counts['orders read']:,} orders in {seconds:.0f} s "
        f"({counts['orders read'] / seconds:,.0f} orders/s), {counts['windows compared']:,} windows compared, "
        f"{counts['windows differing']:,} differ"
        + (f", {counts['windows written']:,} windows written" if job.backfill else ""),
        flush=True,
    )
    spark.stop()
    return 1 if counts["windows differing"] and not job.backfill else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
