"""Reconcile and backfill: raw orders read per second by `make reconcile` and `make backfill`.

Usage:
    python -m bench --only reconcile                      # over the hours the run's earlier phases filled
    python -m bench --only drain,reconcile --scale 5      # a million drained orders, then both over them

Runs spark_jobs/reconcile.py as the make targets do (spark-submit included in
the time) over the whole hours from the run's start to now, which hold every
order the ingest, freshness and drain phases sent:

1. reconcile: the stream ran alone, so it must find no difference (else the
   benchmark fails);
2. every minute and hour window of those hours deleted from MySQL, then
   backfill, which recomputes and writes all of them;
3. reconcile again, which must find no difference.

Also Cassandra's bytes per stored order (`orders`, flushed, from nodetool
tablestats): what a row costs on disk with the columns idempotency keeps.
"""

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from bench import HarnessError
from bench.orders import Run
from bench.report import say
from pipeline.clients import mysql_connection
from pipeline.settings import REPO_ROOT, Settings
from spark_jobs.sinks import WINDOW_TABLES

SUMMARY = re.compile(r"^(reconcile|backfill): ([\d,]+) orders in (\d+) s .* ([\d,]+) windows compared, ([\d,]+) differ")


def job(action: str, start: datetime, end: datetime) -> dict:
    """One run of spark_jobs/reconcile.py: its summary line's numbers and the wall time from spark-submit on."""
    began = datetime.now(UTC)
    done = subprocess.run(
        [
            "bash",
            "spark_jobs/run.sh",
            "spark_jobs/reconcile.py",
            action,
            "--from",
            f"{start:%Y-%m-%dT%H:%M}",
            "--to",
            f"{end:%Y-%m-%dT%H:%M}",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=7200,
    )
    seconds = (datetime.now(UTC) - began).total_seconds()
    found = next((SUMMARY.match(line) for line in reversed(done.stdout.splitlines()) if SUMMARY.match(line)), None)
    if done.returncode not in (0, 1) or not found:
        raise HarnessError(f"{action} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    orders, differ = int(found[2].replace(",", "")), int(found[5].replace(",", ""))
    say(f"  {action}: {orders:,} orders, {differ:,} windows differ, {seconds:.0f} s ({orders / seconds:,.0f} orders/s)")
    return {
        "orders": orders,
        "windows_differing": differ,
        "seconds": round(seconds, 1),
        "orders_per_s": orders / seconds,
    }


def cassandra_bytes_per_order(settings: Settings) -> float | None:
    """Space used by `orders` over its partitions (one per order), after a flush; None if nodetool fails."""
    nodetool = [str(REPO_ROOT / "cassandra" / "nodetool.sh")]
    keyspace = settings.cassandra_keyspace
    subprocess.run([*nodetool, "flush", keyspace, "orders"], capture_output=True, timeout=300)
    stats = subprocess.run([*nodetool, "tablestats", f"{keyspace}.orders"], capture_output=True, text=True, timeout=300)
    used = re.search(r"Space used \(live\): (\d+)", stats.stdout)
    partitions = re.search(r"Number of partitions \(estimate\): (\d+)", stats.stdout)
    if not (used and partitions and int(partitions[1])):
        print(stats.stderr[-500:], file=sys.stderr)
        return None
    return int(used[1]) / int(partitions[1])


def run(settings: Settings, bench_run: Run) -> dict:
    started = datetime.strptime(bench_run.run_id, "%Y%m%dT%H%M%SZ")
    start = started.replace(minute=0, second=0)
    end = datetime.now(UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0) + timedelta(hours=1)
    say(f"reconcile: {start:%H:%M} to {end:%H:%M} UTC, the stream alone")
    first = job("reconcile", start, end)
    if first["windows_differing"]:
        raise HarnessError(f"reconcile found {first['windows_differing']:,} windows differing with the stream alone")
    with mysql_connection(settings, autocommit=True) as mysql, mysql.cursor() as cursor:
        deleted = sum(
            cursor.execute(f"DELETE FROM {table} WHERE window_start >= %s AND window_start < %s", (start, end))
            for minutes in WINDOW_TABLES
            for table in (minutes, minutes.replace("_minute", "_hour"))
        )
    say(f"reconcile: {deleted:,} minute and hour windows deleted; backfill puts them back")
    backfill = job("backfill", start, end)
    after = job("reconcile", start, end)
    if after["windows_differing"]:
        raise HarnessError(f"after backfill, reconcile found {after['windows_differing']:,} windows differing")
    per_order = cassandra_bytes_per_order(settings)
    return {
        "hours": int((end - start).total_seconds() // 3600),
        "reconcile": first,
        "backfill": {**backfill, "windows_deleted": deleted},
        "reconcile_after_backfill": after,
        "cassandra_bytes_per_order": per_order,
    }
