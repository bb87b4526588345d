"""One local SparkSession for every unit test that asks for `spark` (no servers)."""

import os
import sys
from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession


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
        .getOrCreate()
    )
    yield session
    session.stop()
