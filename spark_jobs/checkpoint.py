"""The orders stream's checkpoint: its id, whether the query can resume from it, and moving to a new one.

Spark fixes some settings when it creates a checkpoint (the state's partitions,
its store) and keeps using the checkpoint's values whatever the job is given;
other changes to the stateful part of the query (the dedup key, say) make it
refuse the checkpoint. `refusal` says so before the query starts, in one line.
`upgrade` then moves to a new checkpoint that starts right after the last
batch committed to MySQL: the old checkpoint's offsets say where that batch
ended, so nothing is skipped, and MySQL's commit record, now naming the new
checkpoint, keeps anything from being counted twice.

Usage: python -m spark_jobs.checkpoint upgrade   (what `make upgrade-stream` runs, the job stopped)
"""

import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from pipeline.clients import mysql_connection
from pipeline.settings import Settings, get_settings

# The stream's name: its checkpoint's folder, its rows in MySQL's stream_commits and stream_progress.
QUERY_NAME = "orders_stream"
# Raised when the stateful part of the query changes in a way Spark cannot resume
# (its state's key or schema); `make upgrade-stream` is then needed.
QUERY_VERSION = 1
# The settings Spark keeps from the checkpoint that made its state, with Spark's defaults.
FIXED_BY_CHECKPOINT = {
    "spark.sql.shuffle.partitions": "200",
    "spark.sql.streaming.stateStore.providerClass": (
        "org.apache.spark.sql.execution.streaming.state.HDFSBackedStateStoreProvider"
    ),
}
COMMITTED = "SELECT batch_id, checkpoint_id FROM stream_commits WHERE query_name = %s"
START_AFRESH = """
INSERT INTO stream_commits (query_name, batch_id, checkpoint_id) VALUES (%s, -1, %s)
ON DUPLICATE KEY UPDATE batch_id = VALUES(batch_id), checkpoint_id = VALUES(checkpoint_id)"""


def query_id(checkpoint: Path) -> str:
    """The id Spark gives the query of this checkpoint (its `metadata` file), written first when new."""
    metadata = checkpoint / "metadata"
    if not metadata.exists():
        checkpoint.mkdir(parents=True, exist_ok=True)
        metadata.write_text(json.dumps({"id": str(uuid.uuid4())}))
    return json.loads(metadata.read_text())["id"]


def batch_log(checkpoint: Path, log: str, batch_id: int) -> list[dict]:
    """The JSON lines of one entry of the checkpoint's offsets or commits log (after its version line)."""
    return [json.loads(line) for line in (checkpoint / log / str(batch_id)).read_text().splitlines()[1:]]


def newest_batch(checkpoint: Path) -> int | None:
    batches = [int(path.name) for path in (checkpoint / "offsets").glob("*") if path.name.isdigit()]
    return max(batches, default=None)


def commit_record(settings: Settings, query_name: str) -> tuple[int, str]:
    """The last batch MySQL committed for the query, and the checkpoint it came from ('' if unrecorded)."""
    with mysql_connection(settings) as connection, connection.cursor() as cursor:
        cursor.execute(COMMITTED, (query_name,))
        return cursor.fetchone() or (-1, "")


def refusal(checkpoint: Path, conf: dict[str, str], committed_in: str) -> str | None:
    """Why the query cannot resume from the checkpoint, in one line; None when it can.

    `conf` is the Spark configuration the job runs with; `committed_in` the
    checkpoint (query id) MySQL's last commit came from.
    """
    if committed_in not in ("", json.loads((checkpoint / "metadata").read_text())["id"]):
        return (
            f"orders_stream: MySQL's last commit comes from another checkpoint than {checkpoint} ({committed_in}): "
            "its batches would be skipped or counted twice. Restore that checkpoint, or see docs/upgrading.md"
        )
    newest = newest_batch(checkpoint)
    if newest is None:
        return None
    made_with = batch_log(checkpoint, "offsets", newest)[0]["conf"]
    changed = [
        f"{name}={made_with[name]} (now {conf[name]})"
        for name in FIXED_BY_CHECKPOINT
        if made_with.get(name) != conf[name]
    ]
    version_file = checkpoint / "query-version"
    version = int(version_file.read_text()) if version_file.exists() else 1
    if version != QUERY_VERSION:
        changed.append(f"query version {version} (now {QUERY_VERSION})")
    if not changed:
        return None
    return (
        f"orders_stream: the checkpoint {checkpoint} was made with {', '.join(changed)}, which Spark cannot "
        "change in place; run `make upgrade-stream` to move to a new checkpoint that starts after the last "
        "batch committed to MySQL (docs/upgrading.md)"
    )


def mark(checkpoint: Path) -> None:
    """Record the query version a checkpoint is made with."""
    (checkpoint / "query-version").write_text(str(QUERY_VERSION))


def start_file(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name + ".start.json")


def starting_offsets(checkpoint: Path, default: str) -> str:
    """Where a query without offsets yet starts: after the last batch of the checkpoint it replaced
    (written by `upgrade`), else `default`. Spark ignores it once the checkpoint has offsets."""
    start = start_file(checkpoint)
    if newest_batch(checkpoint) is not None:
        start.unlink(missing_ok=True)
    return start.read_text() if start.exists() else default


def upgrade(settings: Settings, query_name: str) -> str:
    """Move the query to a new checkpoint that starts right after the last batch committed to MySQL."""
    old = settings.checkpoint_path / query_name
    committed, committed_in = commit_record(settings, query_name)
    if not (old / "metadata").exists():
        return f"{old} holds no checkpoint: the job starts a new one by itself"
    if committed_in not in ("", query_id(old)):
        raise ValueError(f"MySQL's last commit ({committed_in}) is not from the checkpoint {old}")
    # Where the last batch MySQL holds ended; with none, where the old query started.
    start = batch_log(old, "offsets", committed)[-1] if committed >= 0 else batch_log(old, "sources/0", 0)[0]
    kept = old.with_name(f"{old.name}.before-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
    old.rename(kept)
    start_file(old).write_text(json.dumps(start))
    new_id = query_id(old)
    mark(old)
    with mysql_connection(settings) as connection, connection.cursor() as cursor:
        cursor.execute(START_AFRESH, (query_name, new_id))
        connection.commit()
    return f"new checkpoint {old} (query {new_id}) starts at {json.dumps(start)}; the old one is kept as {kept}"


if __name__ == "__main__":
    if sys.argv[1:] != ["upgrade"]:
        sys.exit(__doc__)
    print(upgrade(get_settings(), QUERY_NAME))
