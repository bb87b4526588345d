"""process-compose.yaml, the local stack's one declaration, agrees with the settings and keeps its rules."""

import os
import re
import shutil
import subprocess

import pytest
import yaml

from pipeline.stack.__main__ import INSTALLS, installs, server_env
from pipeline.stack.services import services
from pipeline.stack.supervisor import CONFIG, TOOLS, declared, dependencies, effective_config, own


def dry_run(config, settings) -> subprocess.CompletedProcess:
    """process-compose's own check of a file, with the environment the launcher gives it."""
    binary = shutil.which("process-compose", path=os.pathsep.join([str(TOOLS), os.environ["PATH"]]))
    if binary is None:
        pytest.skip("process-compose is not built yet (`make setup` builds it)")
    return subprocess.run(
        [binary, "--config", str(config), "--disable-dotenv", "up", "--dry-run"],
        env=server_env(settings),
        capture_output=True,
        text=True,
    )


def test_process_compose_itself_accepts_the_file(settings):
    checked = dry_run(CONFIG, settings)
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


def test_servers_run_elsewhere_are_not_in_the_file_process_compose_runs(settings, tmp_path):
    elsewhere = settings.model_copy(
        update={"state_dir": tmp_path, "kafka_external": True, "cassandra_external": True, "mysql_external": True}
    )
    project = yaml.safe_load(effective_config(elsewhere).read_text())
    assert sorted(project["processes"]) == ["api", "dashboard", "schemas", "spark", "superset"]
    assert project["processes"]["api"]["depends_on"] == {"schemas": {"condition": "process_completed_successfully"}}
    assert own(list(declared()), elsewhere) == list(project["processes"])
    assert effective_config(settings) == CONFIG  # nothing external: the file itself
    checked = dry_run(effective_config(elsewhere), elsewhere)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_server_run_elsewhere_is_checked_at_the_addresses_its_clients_are_given(settings):
    elsewhere = settings.model_copy(
        update={
            "kafka_external": True,
            "kafka_bootstrap_servers": "10.0.0.1:9093,10.0.0.2:9093",
            "mysql_external": True,
        }
    )
    found = {service.name: service for service in services(elsewhere)}
    assert [(found[name].host, found[name].port) for name in ("kafka-1", "kafka-2")] == [
        ("10.0.0.1", 9093),
        ("10.0.0.2", 9093),
    ]
    assert found["mysql"].external
    assert not found["cassandra"].external
    assert [service.kind for service in services(elsewhere)][:3] == ["kafka", "kafka", "cassandra"]


def test_setup_installs_no_server_that_runs_elsewhere(settings, capsys):
    installs([], settings)
    assert capsys.readouterr().out.split() == list(INSTALLS.values())
    elsewhere = {f"{kind}_external": True for kind in ("kafka", "cassandra", "mysql", "superset")}
    installs([], settings.model_copy(update=elsewhere))
    assert capsys.readouterr().out.strip() == ""  # the Python environments and the Spark connectors only
