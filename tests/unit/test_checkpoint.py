"""Reading the stream's checkpoint (the files Spark writes) before the query starts: spark_jobs/checkpoint.py.

The files go through Hadoop's FileSystem in the unit tests' local Spark JVM, as in the job.
"""

import json

import pytest

from spark_jobs import checkpoint

CONF = {
    "spark.sql.shuffle.partitions": "3",
    "spark.sql.streaming.stateStore.providerClass": "org.apache.spark.sql.execution.streaming.state.RocksDB",
}


def spark_wrote(folder, batches: int, conf: dict[str, str] = CONF) -> None:
    """A checkpoint's offsets log, as Spark 3.5 writes it: a version line, the batch metadata, each source's offsets."""
    (folder / "offsets").mkdir(parents=True, exist_ok=True)
    for batch in range(batches):
        lines = ["v1", json.dumps({"batchWatermarkMs": 0, "conf": conf}), json.dumps({"orders": {"0": 10 * batch}})]
        (folder / "offsets" / str(batch)).write_text("\n".join(lines))


@pytest.fixture
def made(spark, tmp_path):
    state = checkpoint.Checkpoint(tmp_path.as_uri(), "orders_stream")
    identity = state.query_id()
    state.mark()
    return state, tmp_path / "orders_stream", identity


def test_a_checkpoint_keeps_the_query_id_it_was_given_in_spark_s_own_metadata_file(made):
    state, folder, identity = made
    assert state.query_id() == identity
    assert json.loads((folder / "metadata").read_text()) == {"id": identity}


def test_the_same_settings_resume_and_a_new_checkpoint_always_does(made):
    state, folder, identity = made
    assert state.refusal(CONF, "") is None
    spark_wrote(folder, 3)
    assert state.refusal(CONF, identity) is None


@pytest.mark.parametrize("name", sorted(CONF))
def test_a_setting_spark_keeps_from_the_checkpoint_is_refused_with_what_to_run(made, name):
    state, folder, identity = made
    spark_wrote(folder, 2)
    refusal = state.refusal({**CONF, name: "other"}, identity)
    assert refusal is not None
    assert f"{name}={CONF[name]} (now other)" in refusal
    assert "make upgrade-stream" in refusal


def test_a_changed_query_version_is_refused(made, monkeypatch):
    state, folder, identity = made
    spark_wrote(folder, 1)
    monkeypatch.setattr(checkpoint, "QUERY_VERSION", checkpoint.QUERY_VERSION + 1)
    refusal = state.refusal(CONF, identity)
    assert refusal is not None
    assert f"query version {checkpoint.QUERY_VERSION - 1}" in refusal


def test_commits_from_another_checkpoint_are_refused(made):
    state, _, _ = made
    refusal = state.refusal(CONF, "a-checkpoint-deleted-by-hand")
    assert refusal is not None
    assert "skipped or counted twice" in refusal


def test_a_new_checkpoint_starts_where_the_upgrade_said_until_it_has_offsets(made, tmp_path):
    state, folder, _ = made
    (tmp_path / "orders_stream.start.json").write_text('{"orders": {"0": 42}}')
    assert state.starting_offsets("earliest") == '{"orders": {"0": 42}}'
    spark_wrote(folder, 1)
    assert state.starting_offsets("earliest") == "earliest"
    assert not (tmp_path / "orders_stream.start.json").exists()
