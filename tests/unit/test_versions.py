"""Pinned versions that must agree across files (one fact, checked where it is repeated)."""

import re
import tomllib
import xml.etree.ElementTree as ET

import yaml

from pipeline.settings import REPO_ROOT

POM = "{http://maven.apache.org/POM/4.0.0}"


def pom_property(path: str, name: str) -> str:
    return ET.parse(REPO_ROOT / path).getroot().findtext(f"{POM}properties/{POM}{name}", "")


def pyproject_pin(package: str) -> str:
    dependencies = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = (re.fullmatch(rf"{package}(\[[\w,]+\])?==(\S+)", dep) for dep in dependencies)
    return next(pin.group(2) for pin in pins if pin)


def test_spark_connector_matches_the_pyspark_pin():
    assert pom_property("jars/pom.xml", "spark.version") == pyproject_pin("pyspark")


def test_lock_file_pins_the_same_pyspark():
    lock = (REPO_ROOT / "requirements.lock").read_text()
    assert f"pyspark=={pyproject_pin('pyspark')}" in lock.splitlines()


def test_servers_are_the_designed_major_versions():
    assert pom_property("kafka/pom.xml", "kafka.version").startswith("4.")
    assert pom_property("cassandra/pom.xml", "cassandra.version").startswith("5.0.")
    assert pyproject_pin("pyspark").startswith("3.5.")


def compose_image(service: str) -> str:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"][service]["image"]


def base_image(dockerfile: str) -> str:
    """The image the Dockerfile's last stage builds on."""
    return [line.split()[1] for line in (REPO_ROOT / dockerfile).read_text().splitlines() if line.startswith("FROM ")][
        -1
    ]


def test_docker_mode_runs_the_local_modes_server_versions():
    assert compose_image("kafka") == f"apache/kafka:{pom_property('kafka/pom.xml', 'kafka.version')}"
    assert compose_image("cassandra") == f"cassandra:{pom_property('cassandra/pom.xml', 'cassandra.version')}"
    assert compose_image("mysql") == "mysql:8.4"  # the design's MySQL; MariaDB stands in locally
    assert base_image("spark_jobs/Dockerfile").startswith(f"apache/spark:{pyproject_pin('pyspark')}-scala2.12-java17-")
    superset_pin = re.search(r"^apache-superset==(\S+)$", (REPO_ROOT / "superset/requirements.in").read_text(), re.M)
    assert superset_pin
    assert base_image("superset/Dockerfile") == f"apache/superset:{superset_pin.group(1)}"


def test_images_install_the_makefiles_uv_and_the_locks_python():
    uv_pin = re.search(r"^UV_VERSION := (\S+)$", (REPO_ROOT / "Makefile").read_text(), re.M)
    assert uv_pin
    uv = uv_pin.group(1)
    for dockerfile in ("ingest_api/Dockerfile", "spark_jobs/Dockerfile"):
        assert re.findall(r"uv==(\S+)", (REPO_ROOT / dockerfile).read_text()) == [uv], dockerfile
    assert base_image("ingest_api/Dockerfile").startswith("python:3.11.")
    assert "--python 3.11 " in (REPO_ROOT / "spark_jobs/Dockerfile").read_text()
