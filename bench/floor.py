"""Engine floor: the freshness of a query that only reads and parses, at the freshness phase's rate.

Usage:
    python -m bench --only floor,freshness
    python -m bench --only floor --scale 0.1

1. Waits until the Spark job has caught up with the orders topic, then stops it.
2. Starts bench/floor_query.py with the job's own spark-submit settings
   (spark_jobs/run.sh): the Kafka source and parse_orders, then one Spark job
   per micro-batch that collects product ids; log in $STATE_DIR/log/engine-floor.log.
3. Sends WATERMARK_DELAY (2 minutes) of orders at 500 orders/s, not counted,
   as the freshness phase settles the job (the JIT and the Python workers warm
   up), then 60 s, through the API exactly as the
   freshness phase does, and takes each order's delay from its 202 to the end
   of the micro-batch that counted it (bench.freshness.visible_delays over the
   query's running count of this product).
4. Stops the query and starts the job again; the job then stores these orders
   too, as it would any backlog.

The stream's freshness divided by this floor is how much the stream adds to
what Spark itself costs per micro-batch on this machine.
"""

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from bench import HarnessError, freshness, stack
from bench.orders import Run
from bench.report import Every, distribution, say
from pipeline.settings import REPO_ROOT, Settings
from pipeline.stack import processes

START_TIMEOUT_S = 180.0
STARTED = "engine_floor: started"


def running_counts(counts_file: Path, product_id: str) -> list[tuple[float, int]]:
    """(batch end time, orders of product_id counted so far) after each micro-batch that counted some."""
    counts, total = [], 0
    for line in counts_file.read_text().splitlines():
        batch = json.loads(line)
        if batch["products"].get(product_id):
            total += batch["products"][product_id]
            counts.append((batch["done_at"], total))
    return counts


def total(counts: list[tuple[float, int]]) -> int:
    return counts[-1][1] if counts else 0


class FloorQuery:
    """bench/floor_query.py under spark_jobs/run.sh, in a process group of its own."""

    def __init__(self, settings: Settings):
        folder = settings.state_path / "bench-floor"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self.counts_file = folder / "counts.jsonl"
        self.counts_file.touch()
        self.log = settings.state_path / "log" / "engine-floor.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                stack.spark_script("bench/floor_query.py", str(folder / "checkpoint"), str(self.counts_file)),
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # in the benchmark's process group: a Ctrl-C stops it too

    def wait_until_started(self) -> float:
        started = time.monotonic()
        while STARTED not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() - started > START_TIMEOUT_S:
                raise HarnessError(f"engine floor: the query did not start; read {self.log}")
            time.sleep(0.5)
        return time.monotonic() - started

    def stop(self) -> None:
        """SIGTERM to run.sh, which stops the driver; what is left after 30 s is killed."""
        tree = [self.process.pid, *processes.descendants(self.process.pid)]
        self.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(30)
        for pid in tree:
            if processes.alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()


def run(settings: Settings, bench_run: Run) -> dict:
    say("engine floor: waiting until the Spark job has caught up with the orders topic")
    caught_up = stack.wait_until_job_caught_up(settings, bench_run.product_id("floor-sync"))
    product_id = bench_run.product_id("floor")
    bodies = freshness.at_rate(bench_run, product_id, freshness.SECONDS, minimum=2.0)
    warm_up_s = freshness.seconds(settings.watermark_delay)
    warm_up = freshness.at_rate(bench_run, bench_run.product_id("floor-warm-up"), warm_up_s, minimum=1.0)
    say(f"engine floor: caught up after {caught_up:.1f} s; the job stops while the floor query runs")
    stack.launcher("down", "spark")
    query = FloorQuery(settings)
    try:
        answered = query.wait_until_started()
        say(f"engine floor: the query answers after {answered:.1f} s; {len(warm_up):,} orders to warm up")
        asyncio.run(freshness.send(settings, warm_up, [], Counter()))
        acked: list[float] = []
        errors: Counter[str] = Counter()
        say(f"engine floor: {len(bodies):,} orders at {freshness.RATE} orders/s")
        asyncio.run(freshness.send(settings, bodies, acked, errors))
        deadline, tick = time.monotonic() + freshness.TIMEOUT_S, Every(5)
        while (counted := total(running_counts(query.counts_file, product_id))) < len(acked):
            if query.process.poll() is not None or time.monotonic() > deadline:
                raise HarnessError(
                    f"engine floor: the query counted {counted:,} of the {len(acked):,} "
                    f"accepted orders of product {product_id}; read {query.log}"
                )
            if tick():
                say(f"  engine floor: {counted:,} of {len(acked):,} counted")
            time.sleep(freshness.POLL_S)
    finally:
        query.stop()
        stack.launcher("up", "spark")
    delay = distribution(freshness.visible_delays(acked, running_counts(query.counts_file, product_id)))
    say(f"engine floor: p50 {delay['p50']:.2f} s, p95 {delay['p95']:.2f} s, max {delay['max']:.2f} s")
    return {
        "product_id": product_id,
        "rate": freshness.RATE,
        "orders": len(bodies),
        "accepted": len(acked),
        "errors": dict(errors),
        "caught_up_s": round(caught_up, 1),
        "delay_s": delay,
    }
