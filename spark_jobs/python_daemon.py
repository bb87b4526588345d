"""PySpark's Python worker daemon, without the fixed costs a small task pays: spark.python.daemon.module.

Spark starts this module (`python -m spark_jobs.python_daemon`) instead of
pyspark.daemon, the way Spark's own test coverage does, and it forks the
Python workers that run the stream's validation, one task after another. A
micro-batch runs a Python task per Kafka partition, so what each task costs
besides its rows is paid on every batch; three such costs are removed here,
and nothing a task computes changes (docs/performance.md has the numbers):

- Delayed ACKs. The JVM sends each task in two writes on a socket that keeps
  Nagle's algorithm on, so the second write waits for the ACK of the first,
  which Linux delays (by 40 ms) while the worker has nothing to send back.
  The worker asks for that ACK at once (TCP_QUICKACK) before reading a task.
- A full garbage collection after every task (pyspark's daemon loop) walks
  every object pandas, pyarrow and pydantic keep in the worker; what is alive
  after a worker's first task is frozen out of it (gc.freeze).
- Before every task the worker re-reads the directory of every zip on
  sys.path, spark-core's jar among them (importlib.invalidate_caches on
  Python 3.10 and 3.11, cpython#103200, SPARK-54744); the archives never
  change while a worker lives.
"""

import functools
import gc
import socket
import sys
import zipimport
from typing import IO

from pyspark import daemon

_run_task = daemon.worker_main


def acknowledge_at_once(stream: IO[bytes]) -> None:
    """Quick-ACK mode on the socket under `stream`; Linux leaves it again by itself, so set it per task."""
    connection = socket.socket(fileno=stream.fileno())
    try:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
    finally:
        connection.detach()  # the fd stays the stream's


@functools.cache
def freeze_what_the_first_task_loaded() -> None:
    gc.collect()
    gc.freeze()


def run_task(infile: IO[bytes], outfile: IO[bytes]) -> None:
    acknowledge_at_once(infile)
    _run_task(infile, outfile)
    freeze_what_the_first_task_loaded()


def main() -> None:
    if sys.version_info < (3, 12):
        zipimport.zipimporter.invalidate_caches = lambda self: None  # type: ignore[method-assign]
    daemon.worker_main = run_task
    daemon.manager()


if __name__ == "__main__":
    main()
