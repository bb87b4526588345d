"""When only a new driver JVM can go on, the job exits at once and its supervisor starts it again.

Two cases, both about a store client that would otherwise wait forever:

- The Cassandra connector refreshes the Java driver's schema metadata before
  every write. Once a refresh has failed (Cassandra away, or back before the
  driver reconnected), the session never finishes another: java-driver 4.18
  and 4.19 keep the failed refresh (the bug fixed in scylladb/java-driver#841),
  and the connector keeps its session for the JVM's lifetime.
  `require_cassandra` runs that refresh itself, bounded, before each batch;
  a refresh that fails after that check (Cassandra stopping in mid-batch)
  hangs the write, so `BatchWatchdog` runs it again every PROBE_EVERY_S
  while a batch lasts.
- A batch running longer than STREAM_BATCH_TIMEOUT_SECONDS: a call into a
  client that never returns cannot be interrupted from Python.
  `BatchWatchdog` watches for it.

The exit status is EXIT_RESTART; the supervisor restarts the job after any
failure (docs/operations.md), and the checkpoint replays the batch.
"""

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from py4j.protocol import Py4JJavaError
from pyspark.sql import SparkSession

from pipeline.settings import Settings

EXIT_RESTART = 1
# A healthy refresh takes well under a second; one that has not answered in this long never will.
SCHEMA_REFRESH_TIMEOUT_S = 20
# A batch this long may be one whose Cassandra write waits on a failed refresh: probe the session.
PROBE_EVERY_S = 30
WATCH_EVERY_S = 5


def exit_for_restart(reason: str) -> None:
    print(f"orders_stream: {reason}; exiting so that the job starts again in a new JVM", flush=True)
    os._exit(EXIT_RESTART)


def reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=5).close()
        return True
    except OSError:
        return False


def require_cassandra(spark: SparkSession, settings: Settings) -> None:
    """Fail the batch at once (ConnectionError) when no Cassandra node accepts connections;
    exit the job when the connector's session cannot refresh its schema any more."""
    if not any(reachable(node, settings.cassandra_port) for node in settings.cassandra_nodes):
        nodes = ", ".join(f"{node}:{settings.cassandra_port}" for node in settings.cassandra_nodes)
        raise ConnectionError(f"cassandra: no node reachable ({nodes})")
    require_cassandra_session(spark)


def require_cassandra_session(spark: SparkSession) -> None:
    """Exit the job unless the connector's session refreshes its schema within SCHEMA_REFRESH_TIMEOUT_S."""
    jvm = spark._jvm
    assert jvm is not None
    try:
        # The session the connector's writes use: the same connection settings find it in its cache.
        conf = spark.sparkContext.getConf()._jconf
        session = jvm.com.datastax.spark.connector.cql.CassandraConnector.apply(conf).openSession()
    except Py4JJavaError as error:
        raise ConnectionError(f"cassandra: {error.java_exception}") from None
    try:
        refresh = session.refreshSchemaAsync().toCompletableFuture()
        refresh.get(SCHEMA_REFRESH_TIMEOUT_S, jvm.java.util.concurrent.TimeUnit.SECONDS)
    except Py4JJavaError as error:
        timed_out = error.java_exception.getClass().getName() == "java.util.concurrent.TimeoutException"
        reason = f"no answer in {SCHEMA_REFRESH_TIMEOUT_S} s" if timed_out else str(error.java_exception)
        exit_for_restart(f"Cassandra's schema refresh failed ({reason}), and this JVM's session cannot recover")
    finally:
        session.close()


class BatchWatchdog:
    """Exits the job when a batch has run for more than `timeout` seconds, or when, every
    PROBE_EVERY_S while a batch runs, `probe` raises ConnectionError (or exits itself)."""

    def __init__(self, timeout: float, probe: Callable[[], None]):
        self.timeout, self.probe = timeout, probe
        self.running_since: float | None = None
        threading.Thread(target=self._watch, name="batch watchdog", daemon=True).start()

    @contextmanager
    def batch(self) -> Iterator[None]:
        self.running_since = time.monotonic()
        try:
            yield
        finally:
            self.running_since = None

    def _watch(self) -> None:
        probed_at = 0.0
        while True:
            time.sleep(WATCH_EVERY_S)
            since, now = self.running_since, time.monotonic()
            if since is None:
                continue
            if now - since > self.timeout:
                exit_for_restart(f"a batch has been running for more than {self.timeout:.0f} s")
            if now - max(since, probed_at) > PROBE_EVERY_S:
                probed_at = now
                try:
                    self.probe()
                except ConnectionError as error:
                    exit_for_restart(f"a batch has been running for {now - since:.0f} s and {error}")
