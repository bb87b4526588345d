"""Pinned versions that must agree across files (one fact, checked where it is repeated)."""
import re
import tomllib
import xml.etree.ElementTree as ET

from pipeline.settings import REPO_ROOT

POM = "{http://maven.apache.org/POM/4.0.0}"


def pom_property(path: str, name: str) -> str:
    return ET.parse(REPO_ROOT / path).getroot().find(f"{POM}properties/{POM}{name}").text


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
