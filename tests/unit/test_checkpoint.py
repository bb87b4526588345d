"""Reading the stream's checkpoint (the files Spark writes) before the query starts: spark_jobs/checkpoint.py."""

import json

import pytest

from spark_jobs import checkpoint

CONF = {
    "spark.sql.shuffle.partitions": "3",
    "spark.sql.streaming.stateStore.providerClass": "org.apache.spark.sql.execution.streaming.state.RocksDB",
}


def spark_wrote(folder, batches: int, conf: dict[str, str] = CONF) -> None:
    """A checkpoint's offsets log, as Spark 3.5 writes it: a version line, the batch metadata, each source's offsets."""
    (folder / "offsets").mkdir(parents=True)
    for batch in range(batches):
        lines = ["v1", json.dumps({"batchWatermarkMs": 0, "conf": conf}), json.dumps({"orders": {"0": 10 * batch}})]
        (folder / "offsets" / str(batch)).write_text("\n".join(lines))


@pytest.fixture
def made(tmp_path):
    folder = tmp_path / "orders_stream"
    identity = checkpoint.query_id(folder)
    checkpoint.mark(folder)
    return folder, identity


def test_a_checkpoint_keeps_the_query_id_it_was_given(tmp_path):
    folder = tmp_path / "orders_stream"
    assert checkpoint.query_id(folder) == checkpoint.query_id(folder)


def test_the_same_settings_resume_and_a_new_checkpoint_always_does(made):
    folder, identity = made
    assert checkpoint.refusal(folder, CONF, "") is None
    spark_wrote(folder, 3)
    assert checkpoint.refusal(folder, CONF, identity) is None


@pytest.mark.parametrize("name", sorted(CONF))
def test_a_setting_spark_keeps_from_the_checkpoint_is_refused_with_what_to_run(made, name):
    folder, identity = made
    spark_wrote(folder, 2)
    refusal = checkpoint.refusal(folder, {**CONF, name: "other"}, identity)
    assert refusal is not None
    assert f"{name}={CONF[name]} (now other)" in refusal
    assert "make upgrade-stream" in refusal


def test_a_changed_query_version_is_refused(made, monkeypatch):
    folder, identity = made
    spark_wrote(folder, 1)
    monkeypatch.setattr(checkpoint, "QUERY_VERSION", checkpoint.QUERY_VERSION + 1)
    refusal = checkpoint.refusal(folder, CONF, identity)
    assert refusal is not None
    assert f"query version {checkpoint.QUERY_VERSION - 1}" in refusal


def test_commits_from_another_checkpoint_are_refused(made):
    folder, _ = made
    refusal = checkpoint.refusal(folder, CONF, "a-checkpoint-deleted-by-hand")
    assert refusal is not None
    assert "skipped or counted twice" in refusal


def test_a_new_checkpoint_starts_where_the_upgrade_said_until_it_has_offsets(made):
    folder, _ = made
    checkpoint.start_file(folder).write_text('{"orders": {"0": 42}}')
    assert checkpoint.starting_offsets(folder, "earliest") == '{"orders": {"0": 42}}'
    spark_wrote(folder, 1)
    assert checkpoint.starting_offsets(folder, "earliest") == "earliest"
    assert not checkpoint.start_file(folder).exists()
