"""A change the stream's checkpoint cannot take: the job refuses it in one line, and `make upgrade-stream`
moves it to a new checkpoint that starts after the last batch in MySQL, losing and doubling nothing.

The change is made as a user makes it, in .env; the test puts .env back and the
job on a checkpoint of the original setting before it ends.
"""

from contextlib import contextmanager

from tests.integration.ground_truth import Run, assert_stored_exactly, post, sales_rows, wait_until_stored
from tests.integration.helpers import env_changed, stack


@contextmanager
def setting_changed(name: str, value: object):
    try:
        with env_changed(**{name: value}):
            yield
    finally:
        restored = stack("upgrade-stream")
        assert restored.returncode == 0, restored.stdout + restored.stderr


def test_a_setting_the_checkpoint_keeps_is_refused_and_the_upgrade_loses_and_doubles_nothing(
    settings, api, cassandra, mysql, window
):
    runs = {name: Run(400) for name in ("before", "while stopped", "after")}
    before = {name: sales_rows(mysql, run) for name, run in runs.items()}
    post(api, runs["before"], runs["before"].orders)
    wait_until_stored(cassandra, mysql, runs["before"], window)

    stopped = stack("down", "spark")
    assert stopped.returncode == 0, stopped.stderr
    post(api, runs["while stopped"], runs["while stopped"].orders)  # into Kafka, not yet counted
    with setting_changed("SPARK_SHUFFLE_PARTITIONS", settings.spark_shuffle_partitions + 1):
        refused = stack("up", "spark")
        assert refused.returncode == 1
        assert (
            f"spark.sql.shuffle.partitions={settings.spark_shuffle_partitions} "
            f"(now {settings.spark_shuffle_partitions + 1})" in refused.stderr
        )
        assert "run `make upgrade-stream`" in refused.stderr

        upgraded = stack("upgrade-stream")
        assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
        assert "new checkpoint" in upgraded.stdout
        post(api, runs["after"], runs["after"].orders)
        for name, run in runs.items():
            wait_until_stored(cassandra, mysql, run, window)
            assert_stored_exactly(cassandra, mysql, run, before[name], window)
