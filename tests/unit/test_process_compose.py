"""process-compose.yaml, the local stack's one declaration, agrees with the settings and keeps its rules."""

import os
import re
import shutil
import subprocess

import pytest

from pipeline.stack.__main__ import server_env
from pipeline.stack.services import services
from pipeline.stack.supervisor import CONFIG, TOOLS, declared, dependencies


def test_process_compose_itself_accepts_the_file(settings):
    binary = shutil.which("process-compose", path=os.pathsep.join([str(TOOLS), os.environ["PATH"]]))
    if binary is None:
        pytest.skip("process-compose is not built yet (`make setup` builds it)")
    checked = subprocess.run(
        [binary, "--config", str(CONFIG), "--disable-dotenv", "up", "--dry-run"],
        env=server_env(settings),
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_service_is_a_process_whose_probe_reads_its_own_address(settings):
    processes = declared()
    for service in services(settings):
        probe = processes[service.name]["readiness_probe"]
        target = str(probe.get("exec") or probe.get("http_get"))
        host, port = service.name.upper(), service.name.upper()
        if service.name == "spark":
            host, port = "SPARK_LOCAL_IP", "SPARK_UI"
        assert f"${{{host}" in target, (service.name, target)
        assert f"${{{port}_PORT}}" in target, (service.name, target)


def test_servers_restart_after_a_failure_and_stop_within_a_bound():
    for name, process in declared().items():
        if "readiness_probe" not in process:  # a one-shot step
            assert "availability" not in process, name
            continue
        assert process["availability"]["restart"] == "on_failure", name
        assert process["shutdown"]["timeout_seconds"] > 0, name
        assert process["log_location"] == f"${{STATE_DIR}}/log/{name}.log", name


def test_the_api_and_the_job_start_after_the_schemas_which_wait_for_every_server():
    assert dependencies(["api"]) == ["kafka", "cassandra", "mysql", "schemas", "api"]
    assert dependencies(["spark"]) == ["kafka", "cassandra", "mysql", "schemas", "spark"]
    assert dependencies(["dashboard"]) == ["kafka", "cassandra", "mysql", "superset", "schemas", "dashboard"]


def test_no_secret_reaches_the_supervisors_environment(settings):
    env = server_env(settings)
    secrets = [
        value.get_secret_value() for value in settings.model_dump().values() if hasattr(value, "get_secret_value")
    ]
    assert all(secret not in env.values() for secret in secrets if secret)
    assert re.fullmatch(r"/.+", env["STATE_DIR"]), "run.sh scripts need an absolute STATE_DIR"
