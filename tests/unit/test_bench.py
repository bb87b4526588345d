"""The benchmark's pure pieces: sizes, orders, the MySQL visibility rule, memory sums, the table."""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from bench import floor, orders, report
from bench.freshness import seconds, visible_delays
from bench.memory import resident_bytes, tree_bytes
from bench.orders import Run
from pipeline.contract import PRODUCT_ID_PATTERN, Order
from pipeline.stack import processes


def test_scaled_sizes_keep_their_minimums():
    run = Run("20260101T000000Z", 0.005)
    assert run.count(200_000, minimum=500) == 1000
    assert run.count(30_000, minimum=64) == 150
    assert run.count(1_000, minimum=64) == 64
    assert run.seconds(60, minimum=2.0) == 2.0
    assert Run("x", 1.0).seconds(60, minimum=2.0) == 60


def test_product_ids_fit_the_contract():
    run = Run.starting_now(1.0)
    for phase in ("ingest", "freshness", "freshness-sync", "freshness-settle", "drain", "drain-sync"):
        assert re.fullmatch(PRODUCT_ID_PATTERN, run.product_id(phase))


def test_bodies_are_valid_orders_of_one_product_each_with_its_own_order_id():
    bodies = orders.bodies("bench-test-1", orders.POOL_SIZE + 10)
    assert len({body["order_id"] for body in bodies}) == len(bodies)
    assert {Order.model_validate(body).product_id for body in bodies[:50] + bodies[-50:]} == {"bench-test-1"}


def test_requests_hold_per_request_orders_and_the_rest():
    bodies = orders.bodies("bench-test-1", 1_201)
    batches = orders.requests(bodies, 500)
    assert [(len(json.loads(batch)), size) for batch, size in batches] == [(500, 500), (500, 500), (201, 201)]
    assert orders.requests(bodies, 1)[7] == (json.dumps(bodies[7]).encode(), 1)
    assert orders.records(bodies[:1])[0][0] == bodies[0]["order_id"].encode()


def test_the_settling_time_is_the_watermark_delay_as_the_settings_write_it():
    assert [seconds(interval) for interval in ("2 minutes", "30 seconds", "1 minute", "1 hour")] == [120, 30, 60, 3600]


def test_the_kth_order_by_202_time_is_visible_at_the_first_count_reaching_k():
    acked = [10.0, 10.5, 10.2, 11.0]  # sorted: 10.0, 10.2, 10.5, 11.0
    counts = [(12.0, 2), (15.0, 4)]
    assert visible_delays(acked, counts) == pytest.approx([2.0, 1.8, 4.5, 4.0])


def test_orders_never_counted_get_no_delay_and_a_commit_before_the_202_counts_as_none():
    assert visible_delays([1.0, 2.0, 3.0], [(1.5, 2)]) == pytest.approx([0.5, 0.0])
    assert visible_delays([1.0], []) == []


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def settled(pid: int) -> bool:
    """Its resident size held still for 0.2 s: the exec'd program is loaded and idle."""
    before = resident_bytes(pid)
    time.sleep(0.2)
    return resident_bytes(pid) == before > 0


def test_memory_of_a_process_counts_its_descendants_once_each():
    # A shell waiting on a sleep in its own process group: both idle, so their sizes hold still.
    parent = subprocess.Popen(["sh", "-c", "sleep 30 & wait"], start_new_session=True)
    try:

        def sleeping() -> list[int]:  # until the forked shell has exec'd sleep and loaded it, its size changes
            # The process name, not the command line: a fork of `sh -c "sleep 30 & wait"` has that one too.
            return [pid for pid in processes.children(parent.pid) if comm(pid) == "sleep" and settled(pid)]

        deadline = time.monotonic() + 10
        while not sleeping() and time.monotonic() < deadline:
            time.sleep(0.05)
        [child] = sleeping()
        assert tree_bytes(child) == resident_bytes(child) > 0
        assert tree_bytes(parent.pid) == resident_bytes(parent.pid) + resident_bytes(child)
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait()
    assert tree_bytes(parent.pid) == 0


def results(batch_per_s=25_000.0, ceiling_per_s=40_000.0, drain_per_s=12_000.0, floor_p95=1.5) -> dict:
    step = {
        "per_request": 1,
        "connections": 64,
        "rate": None,
        "orders": 100,
        "accepted": 100,
        "errors": {},
        "latency_ms": {"p50": 1.0, "p95": 2.0, "p99": 3.0, "max": 4.0},
    }
    return {
        "phases": {
            "ingest": {
                "steps": {
                    "single_closed_loop": {**step, "orders_per_s": 2_500.0},
                    "single_open_loop": {**step, "rate": 500, "orders_per_s": 500.0},
                    "batch_closed_loop": {**step, "per_request": 500, "connections": 8, "orders_per_s": batch_per_s},
                    "batch_open_loop": {**step, "per_request": 500, "rate": 10_000, "orders_per_s": 9_000.0},
                },
                "ceiling": {"orders_per_s": ceiling_per_s},
                "single_of_ceiling": 2_500 / ceiling_per_s,
                "batch_of_ceiling": batch_per_s / ceiling_per_s,
            },
            "floor": {
                "rate": 500,
                "orders": 40,
                "accepted": 40,
                "errors": {},
                "delay_s": {"p50": 0.5, "p95": floor_p95, "p99": 2.0, "max": 2.0},
            },
            "freshness": {
                "rate": 500,
                "cassandra": {"orders": 10, "delay_s": {"p50": 1.0, "p95": 2.0, "p99": 2.5, "max": 3.0}},
                "mysql": {"orders": 50, "delay_s": {"p50": 3.0, "p95": 6.0, "p99": 7.0, "max": 8.0}},
            },
            "drain": {
                "orders": 1_000,
                "orders_per_s": drain_per_s,
                "seconds": 10.0,
                "orders_per_s_after_answering": 20_000.0,
                "orders_per_s_warm": 24_000.0,
                "ceiling": {"connector": {"orders_per_s": 15_000.0}, "jvm": {"orders_per_s": 30_000.0}},
                "of_connector": drain_per_s / 15_000,
                "of_jvm": drain_per_s / 30_000,
            },
        },
        "memory": {"api": {"what": "ingest API", "peak_mb": 80.0}, "kafka": {"what": "Kafka broker", "peak_mb": 400.0}},
    }


def test_rows_judge_every_target():
    table = report.rows(results())
    assert [(row.measure.split(" ")[0], row.met) for row in table] == [
        ("ingest", True),
        ("ingest", True),
        ("ingest", True),
        ("ingest", None),  # the batch open loop has none
        ("engine", None),  # the floor is what the freshness is judged against
        ("freshness", True),  # p95 2 s, 1.33 x the floor
        ("freshness", False),  # MySQL p95 6 s, target 2 s
        ("drain", True),  # 12,000 orders/s, 0.8 of ceiling (a)
        ("drain", None),  # warm, beside ceiling (a), no target
        ("drain", None),  # beside ceiling (b), no target
        ("peak", True),
        ("peak", None),
    ]


def test_batch_ingest_and_drain_need_their_rate_and_their_share_of_the_ceiling():
    batch = report.rows(results(batch_per_s=25_000.0, ceiling_per_s=60_000.0))[2]
    assert (batch.ratio, batch.met) == ("0.42", False)
    drain = report.rows(results(drain_per_s=9_000.0))[7]
    assert (drain.ratio, drain.met) == ("0.60", False)


def test_the_warm_drain_is_shown_beside_ceiling_a_when_the_backlog_took_more_than_one_batch():
    warm = report.rows(results())[8]
    assert (warm.result, warm.ratio) == ("24,000 orders/s", "1.60")
    one_batch = results()
    one_batch["phases"]["drain"]["orders_per_s_warm"] = None
    assert [row.measure for row in report.rows(one_batch)].count(warm.measure) == 0


def test_freshness_is_judged_against_the_engine_floor():
    cassandra = report.rows(results(floor_p95=1.0))[5]
    assert (cassandra.ceiling, cassandra.ratio, cassandra.met) == ("floor p95 1.00 s", "2.00", False)
    assert report.rows(results(floor_p95=1.5))[5].met


def test_the_floor_counts_each_order_at_the_end_of_its_micro_batch(tmp_path):
    counts = tmp_path / "counts.jsonl"
    batches = [(10.0, {"p": 3, "other": 5}), (11.0, {"other": 1}), (12.5, {"p": 2})]
    counts.write_text("".join(json.dumps({"done_at": at, "products": n}) + "\n" for at, n in batches))
    assert floor.running_counts(counts, "p") == [(10.0, 3), (12.5, 5)]


def test_the_table_lines_up_its_columns():
    lines = report.render(report.rows(results())).splitlines()
    cells = [line.split("|")[1:-1] for line in lines]
    assert [cell.strip() for cell in cells[0]] == list(report.COLUMNS)
    assert set(lines[1]) == {"|", "-"}
    assert len({len(line) for line in lines}) == 1
    assert [cell.strip() for cell in cells[2]][-2:] == [">= 2,000 orders/s", "yes"]
    assert cells[-1][-1].strip() == ""  # no target, nothing to meet
