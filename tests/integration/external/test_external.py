"""External mode: every server marked *_EXTERNAL=true, the pipeline pointed at servers it did not start.

tests/external.sh starts "their" Kafka, Cassandra, MySQL and Superset as a stack of
their own (secure mode, state in $SERVERS_STATE_DIR), then the pipeline with every one
marked external; the secure suite then runs through them, and these check the launcher.
"""

import os
from pathlib import Path

from pipeline.stack.supervisor import Supervisor
from tests.integration.helpers import stack

ELSEWHERE = ["kafka", "cassandra", "mysql", "superset"]


def test_the_launcher_starts_none_of_the_servers_run_elsewhere(settings):
    assert set(ELSEWHERE) <= settings.external_kinds
    ours = Supervisor(settings).processes()
    assert sorted(ours) == ["api", "dashboard", "schemas", "spark"]
    theirs = Supervisor(settings.model_copy(update={"state_dir": Path(os.environ["SERVERS_STATE_DIR"])})).processes()
    assert all(theirs[name].running for name in ELSEWHERE), theirs


def test_status_and_up_check_that_each_server_run_elsewhere_answers(settings):
    status = stack("status")
    assert status.returncode == 0, status.stderr
    lines = {line.split()[0]: line for line in status.stdout.splitlines()}
    for name in ELSEWHERE:
        assert "elsewhere, answering" in lines[name], lines[name]
    again = stack("up")  # idempotent: checks them, starts nothing
    assert again.returncode == 0, again.stderr
    for name in ELSEWHERE:
        assert f"{name}: runs elsewhere ({name.upper()}_EXTERNAL=true), answers on" in again.stdout, again.stdout


def test_a_server_run_elsewhere_that_does_not_answer_is_named_with_its_setting(settings):
    """Within STARTUP_TIMEOUT, one line: the service, its address and its switch."""
    refused = stack("up", env={"MYSQL_PORT": "1", "STARTUP_TIMEOUT": "5"}, timeout=120)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("error: mysql did not answer on 127.0.0.1:1"), line
    assert "MYSQL_EXTERNAL=true" in line, line
