"""The launcher commands docker-compose.yml runs, against the real local stack.

Compose's `init` job is `python -m pipeline.stack schemas` with root's password
over TCP (MYSQL_ADMIN_PASSWORD), and its healthchecks are `... probe NAME`.
"""

import os
import secrets
import socket

import pytest

from pipeline.clients import mysql_admin
from pipeline.settings import REPO_ROOT
from pipeline.stack import dashboard
from pipeline.stack.supervisor import log_file
from tests.integration.helpers import stack


def test_schemas_applies_every_step_again_without_starting_anything(settings):
    result = stack("schemas", timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["[1/4] kafka", "[2/4] cassandra", "[3/4] mysql", "[4/4] superset"]
    assert "created none (all exist)" in lines[0]
    charts = sum(name.startswith("charts/") for name in dashboard.bundle_files(settings))
    assert f"{charts} charts imported" in lines[3]


@pytest.fixture
def root_over_tcp(settings):
    """A root account reachable over TCP with a password, as mysql:8.4 has in compose; dropped afterwards."""
    password = secrets.token_urlsafe(18)
    with mysql_admin(settings, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute("CREATE USER 'root'@'127.0.0.1' IDENTIFIED BY %s", (password,))
        cursor.execute("GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION")
    yield password
    with mysql_admin(settings, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute("DROP USER 'root'@'127.0.0.1'")


def test_the_init_jobs_mysql_step_works_as_root_over_tcp(settings, root_over_tcp, mysql):
    result = stack("schemas", "mysql", env={"MYSQL_ADMIN_PASSWORD": root_over_tcp, "MYSQL_HOST": "127.0.0.1"})
    assert result.returncode == 0, result.stderr
    assert "1000 customers loaded" in result.stdout
    wrong = stack("schemas", "mysql", env={"MYSQL_ADMIN_PASSWORD": "not-" + root_over_tcp})
    assert wrong.returncode == 1
    assert "mysql: applying the database, tables, users and customers failed" in wrong.stderr
    assert "Access denied for user 'root'" in wrong.stderr
    with mysql.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM customers")
        assert cursor.fetchone()[0] == 1000


def test_probe_answers_for_running_services_and_names_a_silent_one(settings):
    result = stack("probe", "kafka", "cassandra", "mysql", "superset", "api", "spark")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 6
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    silent = stack("probe", "api", env={"API_PORT": str(port)})
    assert silent.returncode == 1
    assert f"api is not answering on 127.0.0.1:{port}" in silent.stderr
    assert f"Read {os.path.relpath(log_file(settings, 'api'), REPO_ROOT)}" in silent.stderr
