"""Benchmarks of the pipeline on the running local stack: ingest, freshness, drain, reconcile, dashboard, memory.

Usage:
    make bench                                   # on a stack of its own, every phase at full size
    make bench SCALE=0.1                         # a tenth of every count and duration
    python -m bench [--scale 1.0] [--only ingest,freshness,drain] [--results DIR]

Phases, in this order (each module's docstring says what it measures):
    floor       bench/floor.py      the engine floor: freshness of a query that only reads and parses, at 500 orders/s
    ingest      bench/ingest.py     orders/s and latency through the API; ceiling: the same producer straight to Kafka
    freshness   bench/freshness.py  delay from the API's 202 to Cassandra and to MySQL at a settled 500 orders/s
    drain       bench/drain.py      a preloaded backlog into both stores; ceilings: the connector, the Java driver
    reconcile   bench/reconcile.py  orders/s of make reconcile and make backfill over the hours the run filled
    dashboard   bench/dashboard.py  each chart's query through Superset over 7 days of sales at 500 orders/s
bench/memory.py samples every service's resident memory throughout.

Prints a line per step as it goes, then a table (measure | result | ceiling |
ratio | target | met) and writes it all, with the settings that matter, the
machine and the git commit, to <run id>.json and latest.json in --results
(default $STATE_DIR/bench; `make bench`: var/bench/results/<topology>, outside
the stack it starts afresh each run). The exit code is 0 when everything was measured,
whether or not the targets were met, and 1 when the benchmark could not
measure: the stack is not running, or an accepted order never reached a store.
"""

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import HarnessError, dashboard, drain, floor, freshness, ingest, reconcile, report, stack
from bench.memory import MemorySampler
from bench.orders import Run
from bench.report import say
from pipeline.settings import REPO_ROOT, Settings, get_settings

# The floor first: it stops the job, and the ingest phase's backlog then warms the job's
# JVM up again before the freshness phase measures it.
PHASES = {
    "floor": floor.run,
    "ingest": ingest.run,
    "freshness": freshness.run,
    "drain": drain.run,
    "reconcile": reconcile.run,
    "dashboard": dashboard.run,
}
SETTINGS_THAT_MATTER = (
    "trigger_interval",
    "max_offsets_per_trigger",
    "orders_partitions",
    "spark_master",
    "spark_driver_memory",
    "spark_shuffle_partitions",
    "kafka_delivery_timeout_ms",
    "max_batch_orders",
    "kafka_heap",
    "cassandra_heap",
    "watermark_delay",
    "idempotency_horizon",
    "window_duration",
)


def machine() -> dict:
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    memory_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    return {
        "cpus": os.cpu_count(),
        "memory_total_mb": round(memory_kb * 1024 / 1e6),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def git_commit() -> dict:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "uncommitted_changes": bool(git("status", "--porcelain"))}


def measure(settings: Settings, run: Run, phases: list[str]) -> dict:
    """Run the phases under the memory sampler; the results, with `error` set if the harness failed."""
    results: dict[str, Any] = {
        "run_id": run.run_id,
        "scale": run.scale,
        "started_at": datetime.now(UTC).isoformat(),
        "phases": {},
        "memory": {},
        "error": None,
        "settings": {name: getattr(settings, name) for name in SETTINGS_THAT_MATTER},
        "machine": machine(),
        "git": git_commit(),
    }
    started = time.monotonic()
    sampler = MemorySampler(settings)
    sampler.start()
    try:
        for name in phases:
            say(f"{name}: starting")
            results["phases"][name] = PHASES[name](settings, run)
    except HarnessError as error:
        results["error"] = str(error)
    finally:
        results["memory"] = sampler.stop()
        results["seconds"] = round(time.monotonic() - started, 1)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every count and duration (default 1)")
    parser.add_argument("--only", default=",".join(PHASES), help=f"comma-separated phases (default {','.join(PHASES)})")
    parser.add_argument("--results", type=Path, help="folder for the results (default $STATE_DIR/bench)")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(PHASES)
    if args.scale <= 0 or unknown or not chosen:
        parser.error(f"--scale must be positive and --only a comma-separated subset of {', '.join(PHASES)}")
    settings = get_settings()
    down = stack.not_running(settings)
    if down:
        print(f"error: not running: {', '.join(down)}. Start the stack with `make up`.", file=sys.stderr)
        return 1
    run = Run.starting_now(args.scale)
    say(f"bench run {run.run_id}, scale {run.scale}, phases {', '.join(chosen)}")
    results = measure(settings, run, [name for name in PHASES if name in chosen])
    print(report.render(report.rows(results)), flush=True)
    path = report.write(results, args.results or settings.state_path / "bench")
    print(f"results: {path} (and latest.json beside it); {results['seconds']:.0f} s in all")
    if results["error"]:
        print(f"error: the benchmark could not measure: {results['error']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
