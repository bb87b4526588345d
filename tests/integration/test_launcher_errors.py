"""`make up` must fail fast and say which service failed and which log to read.

Each case runs the launcher on a private state folder and port, so the
running stack is untouched; its own supervisor is stopped afterwards.
"""

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.helpers import stack


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    stack("down", env={"STATE_DIR": str(tmp_path)})


def test_a_taken_port_names_the_service_the_setting_and_the_log(state_dir):
    tmp_path = state_dir
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = stack("up", "mysql", env={"STATE_DIR": str(tmp_path), "MYSQL_PORT": str(port)}, timeout=60)
    assert result.returncode == 1
    assert f"mysql cannot start: 127.0.0.1:{port} is already in use" in result.stderr
    assert "MYSQL_PORT" in result.stderr
    assert str(tmp_path / "log" / "mysql.log") in result.stderr
    assert not (tmp_path / "run" / "process-compose.sock").exists(), "a supervisor was started anyway"


def test_a_server_that_dies_at_start_is_reported_with_its_log_lines(state_dir):
    tmp_path = state_dir
    # An empty data directory (as after a botched restore) has no system
    # tables, so mariadbd gives up at start.
    (tmp_path / "mysql" / "data").mkdir(parents=True)
    result = stack("up", "mysql", env={"STATE_DIR": str(tmp_path), "MYSQL_PORT": str(free_port())}, timeout=120)
    assert result.returncode == 1
    assert "mysql exited with status" in result.stderr
    assert f"Read {tmp_path / 'log' / 'mysql.log'}" in result.stderr
    assert "privilege tables" in result.stderr  # the server's own words, from its log
