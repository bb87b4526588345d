"""The orders stream's checkpoint: its id, whether the query can resume from it, and moving to a new one.

Spark fixes some settings when it creates a checkpoint (the state's partitions,
its store) and keeps using the checkpoint's values whatever the job is given;
other changes to the stateful part of the query (the dedup key, say) make it
refuse the checkpoint. `refusal` says so before the query starts, in one line.
`upgrade` then moves to a new checkpoint that starts right after the last
batch committed to MySQL: the old checkpoint's offsets say where that batch
ended, so nothing is skipped, and MySQL's commit record, now naming the new
checkpoint, keeps anything from being counted twice.

The checkpoint is read through Hadoop's FileSystem, as Spark reads it, so
CHECKPOINT_LOCATION may be file://, hdfs:// or s3a://; this needs Spark's JVM,
so the upgrade runs through spark-submit:

Usage: bash spark_jobs/run.sh spark_jobs/checkpoint.py upgrade   (what `make upgrade-stream` runs)
"""

import json
import sys
import uuid
from datetime import UTC, datetime

from pyspark import SparkConf, SparkContext

from pipeline.clients import mysql_connection
from pipeline.settings import Settings, get_settings

# The stream's name: its checkpoint's folder, its rows in MySQL's stream_commits and stream_progress.
QUERY_NAME = "orders_stream"
# Raised when the stateful part of the query changes in a way Spark cannot resume
# (its state's key or schema); `make upgrade-stream` is then needed. 2: no state (the
# dedup moved from Spark's state store to the raw store, for IDEMPOTENCY_HORIZON).
QUERY_VERSION = 2
# The settings Spark keeps from the checkpoint that made its state, with Spark's defaults.
FIXED_BY_CHECKPOINT = {
    "spark.sql.shuffle.partitions": "200",
    "spark.sql.streaming.stateStore.providerClass": (
        "org.apache.spark.sql.execution.streaming.state.HDFSBackedStateStoreProvider"
    ),
}
COMMITTED = "SELECT batch_id, checkpoint_id FROM stream_commits WHERE query_name = %s"
# Each checkpoint's last batch MySQL committed (its progress rows are written in the same transaction).
COMMITTED_PER_CHECKPOINT = """
SELECT checkpoint_id, MAX(batch_id) FROM stream_progress
WHERE query_name = %s AND checkpoint_id != '' GROUP BY checkpoint_id"""
START_AFRESH = """
INSERT INTO stream_commits (query_name, batch_id, checkpoint_id) VALUES (%s, -1, %s)
ON DUPLICATE KEY UPDATE batch_id = VALUES(batch_id), checkpoint_id = VALUES(checkpoint_id)"""


class Checkpoint:
    """One query's checkpoint folder and the files beside it, through Hadoop's FileSystem."""

    def __init__(self, location: str, name: str):
        """`location`: the checkpoints' URI; `name`: the query's folder in it. Connects to Spark's JVM."""
        SparkContext._ensure_initialized()
        jvm = SparkContext._jvm
        assert jvm is not None
        hadoop = jvm.org.apache.hadoop.conf.Configuration()
        for key, value in SparkConf().getAll():  # what the session would give Hadoop
            if key.startswith("spark.hadoop."):
                hadoop.set(key.removeprefix("spark.hadoop."), value)
        self.jvm, self.name = jvm, name
        self.parent = jvm.org.apache.hadoop.fs.Path(location)
        self.fs = self.parent.getFileSystem(hadoop)
        self.uri = f"{location.rstrip('/')}/{name}"

    def path(self, relative: str):  # a Hadoop Path below the checkpoints' location
        return self.jvm.org.apache.hadoop.fs.Path(self.parent, relative)

    def exists(self, relative: str) -> bool:
        return bool(self.fs.exists(self.path(relative)))

    def read(self, relative: str) -> str:
        stream = self.fs.open(self.path(relative))
        try:
            return bytes(stream.readAllBytes()).decode()
        finally:
            stream.close()

    def write(self, relative: str, text: str) -> None:
        stream = self.fs.create(self.path(relative), True)
        try:
            stream.write(text.encode())
        finally:
            stream.close()

    def batches(self) -> list[int]:
        """The batch ids of the offsets log."""
        offsets = self.path(f"{self.name}/offsets")
        if not self.fs.exists(offsets):
            return []
        return [int(s.getPath().getName()) for s in self.fs.listStatus(offsets) if s.getPath().getName().isdigit()]

    def batch_log(self, log: str, batch_id: int) -> list[dict]:
        """The JSON lines of one entry of the offsets or commits log (after its version line)."""
        return [json.loads(line) for line in self.read(f"{self.name}/{log}/{batch_id}").splitlines()[1:]]

    def query_id(self) -> str:
        """The id Spark gives the query of this checkpoint (its `metadata` file), written first when new."""
        if not self.exists(f"{self.name}/metadata"):
            self.write(f"{self.name}/metadata", json.dumps({"id": str(uuid.uuid4())}))
        return json.loads(self.read(f"{self.name}/metadata"))["id"]

    def mark(self) -> None:
        """Record the query version the checkpoint is made with."""
        self.write(f"{self.name}/query-version", str(QUERY_VERSION))

    def refusal(self, conf: dict[str, str], committed_in: str) -> str | None:
        """Why the query cannot resume from the checkpoint, in one line; None when it can.

        `conf` is the Spark configuration the job runs with; `committed_in` the
        checkpoint (query id) MySQL's last commit came from.
        """
        if committed_in not in ("", self.query_id()):
            return (
                f"orders_stream: MySQL's last commit comes from another checkpoint than {self.uri} ({committed_in}):"
                " its batches would be skipped or counted twice. Restore that checkpoint, or see docs/upgrading.md"
            )
        batches = self.batches()
        if not batches:
            return None
        made_with = self.batch_log("offsets", max(batches))[0]["conf"]
        changed = [
            f"{name}={made_with[name]} (now {conf[name]})"
            for name in FIXED_BY_CHECKPOINT
            if made_with.get(name) != conf[name]
        ]
        marked = self.exists(f"{self.name}/query-version")
        version = int(self.read(f"{self.name}/query-version")) if marked else 1
        if version != QUERY_VERSION:
            changed.append(f"query version {version} (now {QUERY_VERSION})")
        if not changed:
            return None
        return (
            f"orders_stream: the checkpoint {self.uri} was made with {', '.join(changed)}, which Spark cannot "
            "change in place; run `make upgrade-stream` to move to a new checkpoint that starts after the last "
            "batch committed to MySQL (docs/upgrading.md)"
        )

    def starting_offsets(self, default: str) -> str:
        """Where a query without offsets yet starts: after the last batch of the checkpoint it replaced
        (written by `upgrade`), else `default`. Spark ignores it once the checkpoint has offsets."""
        start = f"{self.name}.start.json"
        if self.batches():
            self.fs.delete(self.path(start), False)
        return self.read(start) if self.exists(start) else default

    def upgrade(self, settings: Settings) -> str:
        """Move the query to a new checkpoint that starts right after the last batch committed to MySQL."""
        committed, committed_in = commit_record(settings, self.name)
        if not self.exists(f"{self.name}/metadata"):
            return f"{self.uri} holds no checkpoint: the job starts a new one by itself"
        if committed_in not in ("", self.query_id()):
            raise ValueError(f"MySQL's last commit ({committed_in}) is not from the checkpoint {self.uri}")
        # Where the last batch MySQL holds ended; with none, where the old query started.
        start = self.batch_log("offsets", committed)[-1] if committed >= 0 else self.batch_log("sources/0", 0)[0]
        kept = f"{self.name}.before-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
        self.fs.rename(self.path(self.name), self.path(kept))
        self.write(f"{self.name}.start.json", json.dumps(start))
        new_id = self.query_id()
        self.mark()
        with mysql_connection(settings) as connection, connection.cursor() as cursor:
            cursor.execute(START_AFRESH, (self.name, new_id))
            connection.commit()
        return (
            f"new checkpoint {self.uri} (query {new_id}) starts at {json.dumps(start)}; the old one is kept as {kept}"
        )


def commit_record(settings: Settings, query_name: str) -> tuple[int, str]:
    """The last batch MySQL committed for the query, and the checkpoint it came from ('' if unrecorded)."""
    with mysql_connection(settings) as connection, connection.cursor() as cursor:
        cursor.execute(COMMITTED, (query_name,))
        return cursor.fetchone() or (-1, "")


def committed_per_checkpoint(settings: Settings, query_name: str) -> list[tuple[str, int]]:
    """(checkpoint id, last batch MySQL committed) of every checkpoint the query has had, as far
    as PROGRESS_KEEP_DAYS keeps them."""
    with mysql_connection(settings) as connection, connection.cursor() as cursor:
        cursor.execute(COMMITTED_PER_CHECKPOINT, (query_name,))
        return list(cursor.fetchall())


if __name__ == "__main__":
    if sys.argv[1:] != ["upgrade"]:
        sys.exit(__doc__)
    settings = get_settings()
    print(f"checkpoint: {Checkpoint(settings.checkpoint_uri, QUERY_NAME).upgrade(settings)}", flush=True)
