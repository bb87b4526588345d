"""The job's Python worker daemon (spark_jobs/python_daemon.py), as the unit tests' session runs it."""

import gc
import sys
import zipimport
from collections.abc import Iterator

import pandas as pd
import pytest

STATE = "frozen long, zip_caches_kept boolean"


def worker_state(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    for _ in batches:
        pass
    yield pd.DataFrame(
        {
            "frozen": [gc.get_freeze_count()],
            "zip_caches_kept": [zipimport.zipimporter.invalidate_caches.__name__ == "<lambda>"],
        }
    )


def test_a_reused_python_worker_leaves_what_its_first_task_loaded_out_of_garbage_collection(spark):
    frame = spark.range(0, 2, 1, 2)
    states = [frame.mapInPandas(worker_state, STATE).collect() for _ in range(3)]
    # Two cores, two workers, each reused: by the third run, every task runs in a worker that ran one.
    assert all(row.frozen > 10_000 for row in states[-1])


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="Python 3.12 invalidates zip caches cheaply")
def test_python_workers_do_not_reread_the_zips_on_their_path_before_each_task(spark):
    assert all(row.zip_caches_kept for row in spark.range(0, 2, 1, 2).mapInPandas(worker_state, STATE).collect())
