"""One local SparkSession for every unit test that asks for `spark` (no servers)."""

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

SPARK_DEFAULTS = Path(__file__).parents[2] / "spark_jobs" / "spark-defaults.conf"


def job_setting(name: str) -> str:
    """One of the job's settings in spark_jobs/spark-defaults.conf."""
    lines = [line.split(None, 1) for line in SPARK_DEFAULTS.read_text().splitlines()]
    return dict(line for line in lines if len(line) == 2 and not line[0].startswith("#"))[name]


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # the workers need this env's packages
    session = (
        SparkSession.builder.master("local[2]")
        .appName("unit tests")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", 1)
        .config("spark.ui.enabled", False)
        # The job's Python workers, so that the tests run them as the stream does.
        .config("spark.python.daemon.module", job_setting("spark.python.daemon.module"))
        .getOrCreate()
    )
    yield session
    session.stop()
