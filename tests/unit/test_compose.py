"""docker-compose.yml, checked without a Docker engine (none runs here).

The compose file must run the local mode's topology from the same code, config
and .env: these tests read both and compare. `docker compose config`, the
real parser, runs too when the CLI plugin is installed.
"""

import base64
import fnmatch
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from pipeline.settings import REPO_ROOT, ContractSettings, Settings

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
IN_NETWORK = COMPOSE["x-in-network"]
ENV_EXAMPLE = (REPO_ROOT / ".env.example").read_text()
EXAMPLE_KEYS = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE, re.M))
SETTINGS = {name.upper() for name in Settings.model_fields}
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")


def depends_on(service: dict) -> dict[str, str]:
    return {name: rule["condition"] for name, rule in service.get("depends_on", {}).items()}


def one_shot(name: str) -> bool:
    return SERVICES[name].get("restart") == "no"


def published(service: dict) -> list[tuple[str, str, str]]:
    """(host address, host port, container port) of each `ports` entry."""
    return [tuple(entry.rsplit(":", 2)) for entry in service.get("ports", [])]


def dockerfile(name: str) -> Path:
    return REPO_ROOT / SERVICES[name]["build"]["dockerfile"]


def base_images(path: Path) -> list[str]:
    return [line.split()[1] for line in path.read_text().splitlines() if line.startswith("FROM ")]


def test_every_image_and_base_image_is_pinned():
    images = [s["image"] for s in SERVICES.values() if "build" not in s]
    images += [
        image for s in SERVICES.values() if "build" in s for image in base_images(REPO_ROOT / s["build"]["dockerfile"])
    ]
    assert len(images) >= 7
    for image in images:
        tag = image.partition(":")[2]
        assert tag, f"{image} is not pinned to a version"
        assert tag != "latest", f"{image} is not pinned to a version"


def test_long_running_services_have_healthchecks_and_dependencies_are_satisfiable():
    for name, service in SERVICES.items():
        if not one_shot(name):
            assert "healthcheck" in service, f"{name} runs long but has no healthcheck"
        for dependency, condition in depends_on(service).items():
            if condition == "service_healthy":
                assert "healthcheck" in SERVICES[dependency], f"{name} waits for {dependency} to be healthy"
            else:
                assert condition == "service_completed_successfully", (name, dependency)
                assert one_shot(dependency), (name, dependency)


def test_every_one_shot_job_is_awaited_by_a_long_running_service():
    # Otherwise `docker compose up --wait` exits 1 when the job ends (docker/compose#10596).
    for name in filter(one_shot, SERVICES):
        awaiting = [other for other, s in SERVICES.items() if not one_shot(other) and name in depends_on(s)]
        assert awaiting, f"no long-running service waits for {name}"


def test_the_init_job_runs_the_launchers_schema_steps_against_every_server():
    init = SERVICES["init"]
    assert init["command"][1:] == ["-m", "pipeline.stack", "schemas"]
    assert set(depends_on(init)) == {"kafka", "cassandra", "mysql", "superset"}
    assert {"api", "spark-job"} <= {name for name, s in SERVICES.items() if "init" in depends_on(s)}


def test_every_variable_it_uses_is_in_env_example():
    used = set(VARIABLE.findall((REPO_ROOT / "docker-compose.yml").read_text()))
    assert used, "the compose file reads nothing from .env"
    assert used - EXAMPLE_KEYS == set()


def test_pipeline_containers_read_env_and_override_only_real_settings():
    for name, service in SERVICES.items():
        if service.get("image", "").startswith("sales-pipeline/") and name not in (
            "superset",
            "spark-master",
            "spark-worker",
        ):
            assert service.get("env_file") == [".env"], name
            unknown = set(service.get("environment", {})) - SETTINGS - {"SPARK_LOCAL_HOSTNAME"}
            assert unknown == set(), f"{name} sets variables no setting reads: {unknown}"


def test_topic_keyspace_and_database_names_come_from_env_only():
    names = {"ORDERS_TOPIC", "DLQ_TOPIC", "CASSANDRA_KEYSPACE", "MYSQL_DATABASE", "MYSQL_USER"}
    for name, service in SERVICES.items():
        if name != "mysql":  # there MYSQL_* are the image's variables, set to Superset's metadata account
            assert names.isdisjoint(service.get("environment", {})), name


SERVERS = {"kafka": "KAFKA_PORT", "cassandra": "CASSANDRA_PORT", "mysql": "MYSQL_PORT"}


@pytest.mark.parametrize(
    ("service", "port"),
    [*SERVERS.items(), ("superset", "SUPERSET_PORT"), ("api", "API_PORT"), ("spark-job", "SPARK_UI_PORT")],
)
def test_host_ports_are_the_local_modes_bound_to_loopback(service, port):
    [(address, host_port, _)] = published(SERVICES[service])
    assert (address, host_port) == ("127.0.0.1", f"${{{port}}}")
    assert port in SETTINGS


@pytest.mark.parametrize("service", ["cassandra", "mysql"])
def test_containers_reach_each_server_on_the_port_it_listens_on(service):
    [(_, _, container_port)] = published(SERVICES[service])
    assert IN_NETWORK[f"{service.upper()}_HOST"] == service
    assert IN_NETWORK[SERVERS[service]] == container_port


def test_kafka_advertises_the_in_network_address_and_the_hosts_own():
    env = SERVICES["kafka"]["environment"]
    listeners = dict(item.split("://") for item in env["KAFKA_LISTENERS"].split(","))
    advertised = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert advertised["INTERNAL"] == f"{IN_NETWORK['KAFKA_HOST']}:{IN_NETWORK['KAFKA_PORT']}"
    assert listeners["INTERNAL"] == f":{IN_NETWORK['KAFKA_PORT']}"
    assert advertised["HOST"] == "${KAFKA_HOST}:${KAFKA_PORT}"
    [(_, _, container_port)] = published(SERVICES["kafka"])
    assert listeners["HOST"] == f":{container_port}"


def test_kafka_has_a_valid_kraft_cluster_id():
    # The image refuses to start in KRaft mode without one: 16 bytes, URL-safe base64, unpadded.
    cluster_id = SERVICES["kafka"]["environment"]["CLUSTER_ID"]
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
    assert len(cluster_id) == 22


def test_kafka_runs_the_local_modes_broker_settings():
    properties = dict(
        line.split("=", 1)
        for line in (REPO_ROOT / "kafka" / "server.properties").read_text().splitlines()
        if line and not line.startswith("#")
    )
    addresses = {
        "controller.quorum.voters",
        "listeners",
        "advertised.listeners",
        "inter.broker.listener.name",
        "listener.security.protocol.map",
        "log.dirs",
    }
    # The single-node values of the settings run.sh fills in (node id, replication).
    example = dict(line.split("=", 1) for line in ENV_EXAMPLE.splitlines() if line and not line.startswith("#"))
    env = {key: str(value) for key, value in SERVICES["kafka"]["environment"].items()}
    for key, value in properties.items():
        if key not in addresses:
            value = re.sub(r"@(\w+)@", lambda setting: example[setting[1]], value)
            assert env.get("KAFKA_" + key.upper().replace(".", "_")) == value, key


def test_the_stream_and_its_executors_share_the_checkpoint_volume_at_its_path():
    job, worker = SERVICES["spark-job"], SERVICES["spark-worker"]
    checkpoints = f"{job['environment']['STATE_DIR']}/checkpoints"
    mounts = {entry for entry in job["volumes"] if entry.endswith(":" + checkpoints)}
    assert mounts
    assert mounts <= set(worker["volumes"])
    assert mounts.pop().split(":")[0] in COMPOSE["volumes"]  # a named volume
    assert job["environment"]["SPARK_MASTER"].startswith("spark://spark-master:")


def dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps path out of the build context (its patterns, `**/` included)."""
    parts = path.split("/")
    for line in (REPO_ROOT / ".dockerignore").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        pattern, candidates = line.rstrip("/"), [path]
        if pattern.startswith("**/"):
            pattern, candidates = pattern[3:], ["/".join(parts[i:]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(c, pattern) or c.startswith(pattern + "/") for c in candidates):
            return True
    return False


def copied_sources(path: Path) -> list[str]:
    sources = []
    for line in path.read_text().splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            sources += [part for part in line.split()[1:-1] if not part.startswith("--")]
    return sources


def test_every_file_it_mounts_or_builds_from_exists_and_reaches_the_build():
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO_ROOT / source).is_file(), f"{name} mounts missing {source}"
        if "build" in service:
            assert service["build"]["context"] == "."
            assert dockerfile(name).is_file()
            for source in copied_sources(dockerfile(name)):
                assert (REPO_ROOT / source).exists(), f"{dockerfile(name)} copies missing {source}"
                assert not dockerignored(source), f".dockerignore keeps {source} out of the build"
    assert dockerignored(".env")
    assert dockerignored("var")
    assert dockerignored("superset/.venv")


def test_images_start_the_service_folders_own_run_scripts():
    assert 'CMD ["bash", "ingest_api/run.sh"]' in dockerfile("api").read_text()
    assert 'CMD ["bash", "spark_jobs/run.sh"]' in dockerfile("spark-job").read_text()
    assert 'CMD ["bash", "run.sh"]' in dockerfile("superset").read_text()


def test_executors_get_every_contract_setting_and_need_no_secret(monkeypatch, tmp_path):
    run_script = (REPO_ROOT / "spark_jobs" / "run.sh").read_text()
    for name in ContractSettings.model_fields:
        assert f'spark.executorEnv.{name.upper()}="${name.upper()}"' in run_script
    for name in os.environ:
        if name.upper() in SETTINGS:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    assert ContractSettings(_env_file=None).default_unit_price > 0


def test_cassandra_container_runs_the_local_yaml_at_the_containers_address(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "hostname").write_text("#!/bin/sh\necho '172.18.0.5 fd00::5'\n")
    (bin_dir / "cassandra").write_text('#!/bin/sh\necho "cassandra $*"\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "CASSANDRA_CONF": str(tmp_path)}
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "cassandra" / "container.sh")], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "cassandra -f"
    rendered = yaml.safe_load((tmp_path / "cassandra.yaml").read_text())
    assert rendered["listen_address"] == rendered["rpc_address"] == "172.18.0.5"
    assert rendered["seed_provider"][0]["parameters"][0]["seeds"] == "172.18.0.5"
    local = yaml.safe_load((REPO_ROOT / "cassandra" / "cassandra.yaml").read_text())
    assert {k: v for k, v in rendered.items() if k not in ("listen_address", "rpc_address", "seed_provider")} == {
        k: v for k, v in local.items() if k not in ("listen_address", "rpc_address", "seed_provider")
    }


def compose_cli() -> str | None:
    """Why `docker compose` cannot run here, or None when it can."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    version = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if version.returncode != 0:
        return f"the docker CLI has no compose plugin ({version.stderr.strip().splitlines()[0]})"
    return None


def test_docker_compose_itself_accepts_the_file():
    why_not = compose_cli()
    if why_not:
        pytest.skip(f"docker compose config not run: {why_not}")
    if not (REPO_ROOT / ".env").exists():
        pytest.skip("docker compose config not run: no .env (services read it as env_file); `make .env` creates it")
    result = subprocess.run(
        ["docker", "compose", "--env-file", ".env.example", "config", "--quiet"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "not set" not in result.stderr, result.stderr
