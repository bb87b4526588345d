"""The batch watchdog: a batch stuck on a dead Cassandra session ends the job, a quiet job is left alone."""

import threading
import time

import pytest

from spark_jobs import liveness


@pytest.fixture
def exits(monkeypatch):
    """The reasons the job would have exited for, instead of exiting; the watchdog on a fast clock."""
    reasons: list[str] = []
    exited = threading.Event()

    def record(reason: str) -> None:
        reasons.append(reason)
        exited.set()

    monkeypatch.setattr(liveness, "exit_for_restart", record)
    monkeypatch.setattr(liveness, "WATCH_EVERY_S", 0.01)
    monkeypatch.setattr(liveness, "PROBE_EVERY_S", 0.1)
    return reasons, exited


def refused() -> None:
    raise ConnectionError("cassandra: Control channel not available")


def test_a_long_batch_whose_cassandra_session_fails_its_probe_ends_the_job(exits):
    reasons, exited = exits
    watchdog = liveness.BatchWatchdog(timeout=60, probe=refused)
    with watchdog.batch():
        assert exited.wait(5), "the watchdog never probed the session of a running batch"
    assert "Control channel not available" in reasons[0]


def test_a_long_batch_with_a_healthy_session_runs_on(exits):
    reasons, _ = exits
    probes = []
    watchdog = liveness.BatchWatchdog(timeout=60, probe=lambda: probes.append(time.monotonic()))
    with watchdog.batch():
        time.sleep(0.5)
    assert len(probes) >= 2, "the session was not probed again while the batch ran"
    assert reasons == []


def test_no_probe_between_batches_and_none_in_a_short_batch(exits):
    reasons, _ = exits
    watchdog = liveness.BatchWatchdog(timeout=60, probe=refused)
    time.sleep(0.3)
    with watchdog.batch():
        time.sleep(0.05)
    time.sleep(0.3)
    assert reasons == []


def test_a_batch_past_its_timeout_ends_the_job(exits):
    reasons, exited = exits
    watchdog = liveness.BatchWatchdog(timeout=0.2, probe=lambda: None)
    with watchdog.batch():
        assert exited.wait(5)
    assert "running for more than" in reasons[0]
