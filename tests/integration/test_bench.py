"""`make bench` at a tiny scale: the harness runs end to end on a stack of its own, and the
stack it was started from (here the tests' own, standing in for a user's) keeps exactly the
sales data and dashboard it had. It measures; nothing here judges a time."""

import hashlib
import json
import re
import uuid
from pathlib import Path

from bench.stack import wait_until_job_caught_up
from kafka import KafkaConsumer, TopicPartition
from pipeline.clients import kafka_python_config
from pipeline.settings import Settings
from pipeline.stack.dashboard import SLUG, SupersetClient
from pipeline.stack.services import services
from pipeline.stack.supervisor import pids
from tests.integration import dashboard_page
from tests.integration.helpers import cassandra_session, make, pipeline_mysql


def what_a_user_sees(settings: Settings) -> dict:
    """Every MySQL table's checksum, every Cassandra row, the topics' ends and the dashboard's definition."""
    seen: dict = {}
    with pipeline_mysql(settings) as mysql, mysql.cursor() as cursor:
        cursor.execute("SHOW TABLES")
        for (table,) in cursor.fetchall():
            cursor.execute(f"CHECKSUM TABLE `{table}`")
            seen[f"mysql {table}"] = cursor.fetchone()[1]
    with cassandra_session(settings) as cassandra:
        for table in ("orders", "orders_by_time"):
            rows = sorted(repr(tuple(row)) for row in cassandra.execute(f"SELECT * FROM {table}"))
            seen[f"cassandra {table}"] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    consumer = KafkaConsumer(**kafka_python_config(settings))
    for topic in (settings.orders_topic, settings.dlq_topic):
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        seen[f"kafka {topic}"] = sorted((p.partition, end) for p, end in consumer.end_offsets(partitions).items())
    consumer.close()
    with SupersetClient(settings) as superset:
        board = superset.get(f"/api/v1/dashboard/{SLUG}")["result"]
        charts = superset.get(f"/api/v1/dashboard/{SLUG}/charts")["result"]
        seen["superset"] = (
            board["position_json"],
            board["json_metadata"],
            sorted((chart["slice_name"], json.dumps(chart["form_data"], sort_keys=True)) for chart in charts),
        )
    return seen


def test_make_bench_measures_on_its_own_stack_and_leaves_this_one_as_it_was(settings):
    # Nothing of earlier tests still on its way; the markers' product is this run's own, since
    # markers of an earlier run, already counted, would end the wait at once.
    wait_until_job_caught_up(settings, f"bench-isolation-{uuid.uuid4().hex[:8]}")
    before = what_a_user_sees(settings)
    result = make("bench", "SCALE=0.005")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]

    path = re.search(r"^results: (\S+)", result.stdout, re.MULTILINE)
    assert path, result.stdout
    assert not Path(path[1]).is_relative_to(settings.state_path / "bench"), "the benchmark wrote to this stack's folder"
    results = json.loads(Path(path[1]).read_text())
    assert results["error"] is None
    assert set(results["phases"]) == {"ingest", "floor", "freshness", "drain", "reconcile", "dashboard"}

    ingest = results["phases"]["ingest"]
    for name, step in ingest["steps"].items():
        assert step["accepted"] == step["orders"] > 0, name
        assert not step["errors"], name
        assert step["orders_per_s"] > 0, name
    assert ingest["ceiling"]["orders_per_s"] > 0
    assert ingest["ceiling"]["failed"] == 0

    floor = results["phases"]["floor"]
    assert floor["accepted"] == floor["orders"] > 0
    assert floor["delay_s"]["max"] > 0

    freshness = results["phases"]["freshness"]
    assert freshness["accepted"] == freshness["orders"] == freshness["mysql"]["counted"] > 0
    assert freshness["cassandra"]["found"] == freshness["cassandra"]["orders"] > 0

    drain = results["phases"]["drain"]
    assert drain["cassandra_found"] == drain["orders"] > 0
    assert drain["orders_per_s"] > 0
    for ceiling in drain["ceiling"].values():
        assert ceiling["orders"] == drain["orders"]
        assert ceiling["orders_per_s"] > 0
    assert drain["ceiling"]["jvm"]["failed"] == 0

    reconciled = results["phases"]["reconcile"]
    assert reconciled["reconcile"]["orders"] >= drain["orders"]  # and none of its windows differed
    assert reconciled["backfill"]["windows_deleted"] > 0
    assert reconciled["reconcile_after_backfill"]["windows_differing"] == 0

    dashboard = results["phases"]["dashboard"]
    assert set(dashboard["charts"]) == dashboard_page.chart_titles(settings)
    for title, ranges in dashboard["charts"].items():
        assert set(ranges) == set(dashboard_page.TIME_RANGES), title
    assert dashboard["data"]["rows"]["sales_by_minute"] > 0

    assert {"api", "spark", "kafka", "cassandra", "mysql", "superset"} <= set(results["memory"])
    assert "| measure" in result.stdout
    assert results["table"]

    # This stack is running again, with what it held before, to the byte.
    running = pids(settings)
    assert all(service.name in running for service in services(settings)), running
    assert next(service for service in services(settings) if service.name == "spark").answers(settings)
    assert what_a_user_sees(settings) == before
