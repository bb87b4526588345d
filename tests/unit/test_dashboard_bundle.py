"""The dashboard bundle (superset/dashboard/) agrees with itself, with the MySQL schema and with .env."""

import io
import re
import zipfile

import pytest
import yaml

from pipeline.stack import dashboard
from tests import schema


@pytest.fixture(scope="module")
def files(settings):
    return dashboard.bundle_files(settings)


def of_kind(files, kind: str) -> dict[str, dict]:
    return {name: content for name, content in files.items() if name.startswith(f"{kind}/")}


def mysql_columns() -> dict[str, set[str]]:
    """Column names of each table the MySQL migrations create."""
    return {table: set(schema.table_columns("mysql", table)) for table in schema.tables("mysql")}


def test_the_database_is_mysql_through_the_read_only_user_from_env(files, settings):
    (database,) = of_kind(files, "databases").values()
    assert database["sqlalchemy_uri"] == (
        f"mysql+pymysql://{settings.mysql_readonly_user}:{dashboard.MASKED_PASSWORD}"
        f"@{settings.mysql_host}:{settings.mysql_port}/{settings.mysql_database}"
        "?init_command=SET%20time_zone%20%3D%20%27%2B00%3A00%27"  # UTC sessions, as the pipeline's
    )
    assert database["allow_dml"] is False
    assert all(dataset["schema"] == settings.mysql_database for dataset in of_kind(files, "datasets").values())


def read_tables(dataset: dict) -> dict[str, set[str]]:
    """The tables a dataset reads, each with the columns its SQL adds (`1 AS minutes`); a physical
    dataset reads its own table. Rollups are made LIKE their minute table (migration 0003)."""
    if not dataset["sql"]:
        return {dataset["table_name"]: set()}
    branches = re.findall(r"SELECT (.*?) FROM (\w+)", dataset["sql"])
    return {
        re.sub(r"_by_(hour|day)$", "_by_minute", table): set(re.findall(r" AS (\w+)", columns))
        for columns, table in branches
    }


def test_datasets_read_tables_of_the_schema_and_use_only_their_columns(files):
    tables = mysql_columns()
    for name, dataset in of_kind(files, "datasets").items():
        physical = {c["column_name"] for c in dataset["columns"] if not c["expression"]}
        assert dataset["main_dttm_col"] in physical
        for table, computed in read_tables(dataset).items():
            assert table in tables, name
            assert physical - computed <= tables[table], f"{name}: {physical - computed - tables[table]}"


def test_every_reference_resolves(files):
    (database,) = of_kind(files, "databases").values()
    datasets = {d["uuid"]: d for d in of_kind(files, "datasets").values()}
    charts = {c["uuid"]: c for c in of_kind(files, "charts").values()}
    (board,) = of_kind(files, "dashboards").values()
    assert {d["database_uuid"] for d in datasets.values()} == {database["uuid"]}
    for chart in charts.values():
        dataset = datasets[chart["dataset_uuid"]]
        params = chart["params"]
        metrics = [params["metric"]] if "metric" in params else params.get("metrics", [])
        assert set(metrics) <= {m["metric_name"] for m in dataset["metrics"]}, chart["slice_name"]
        columns = {c["column_name"] for c in dataset["columns"]}
        used = set(params.get("groupby", [])) | {params[k] for k in ("x_axis", "entity") if k in params}
        used |= {f["subject"] for f in params.get("adhoc_filters", [])}
        assert used <= columns, chart["slice_name"]
    placed = {
        item["meta"]["uuid"]: item["meta"]["chartId"]
        for item in board["position"].values()
        if isinstance(item, dict) and item.get("type") == "CHART"
    }
    assert set(placed) == set(charts), "every chart is on the dashboard once, and nothing else"
    for native_filter in board["metadata"]["native_filter_configuration"]:
        assert set(native_filter["scope"]["excluded"]) <= set(placed.values())
        for target in native_filter["targets"]:
            assert target.get("datasetUuid", next(iter(datasets))) in datasets


def test_the_dashboard_refreshes_every_10_seconds_over_the_last_hour(files):
    (board,) = of_kind(files, "dashboards").values()
    assert board["metadata"]["refresh_frequency"] == 10
    time_filter = next(f for f in board["metadata"]["native_filter_configuration"] if f["filterType"] == "filter_time")
    assert time_filter["defaultDataMask"]["extraFormData"]["time_range"] == 'DATEADD(DATETIME("now"), -1, hour) : now'


def test_the_zip_holds_every_file_under_one_root_folder(files):
    with zipfile.ZipFile(io.BytesIO(dashboard.bundle_zip(files))) as archive:
        names = archive.namelist()
        assert sorted(names) == sorted(f"bundle/{name}" for name in files)
        assert yaml.safe_load(archive.read("bundle/metadata.yaml"))["type"] == "Dashboard"
