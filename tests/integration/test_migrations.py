"""Schema migrations on the real servers, each test in a MySQL database and Cassandra keyspace of its own.

`make up` runs the same functions on the pipeline's own database and keyspace
(pipeline/stack/schemas.py); the dashboard import runs against the running Superset.
"""

import shutil
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from pipeline.clients import cassandra_cluster, mysql_admin
from pipeline.stack import dashboard, migrations
from pipeline.stack.migrations import CASSANDRA_MIGRATIONS, MYSQL_MIGRATIONS, MigrationError, cql_migrations, mysql_head

ROWS = {
    "sales_by_minute": "INSERT INTO sales_by_minute VALUES "
    "('2026-12-01 10:00', '2026-12-01 10:01', 'Takeaway', 'CA', 'visa', 'USD', 3, 7, 21.00, NOW(3))",
    "stream_commits": "INSERT INTO stream_commits (query_name, batch_id) VALUES ('orders_stream', 41)",
    "stream_progress": "INSERT INTO stream_progress (query_name, batch_id, input_rows, rows_per_second, duration_ms) "
    "VALUES ('orders_stream', 41, 3, 1.5, 2000)",
}
CHANNEL = "-- test: orders gain a channel\nALTER TABLE orders ADD IF NOT EXISTS channel text;\n"


@pytest.fixture
def scratch(settings):
    """Settings naming a new database and keyspace, both dropped afterwards."""
    name = f"migrations_{uuid.uuid4().hex[:10]}"
    with mysql_admin(settings, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}`")
    cluster = cassandra_cluster(settings)
    session = cluster.connect()
    session.execute(f"CREATE KEYSPACE {name} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}")
    session.set_keyspace(name)
    yield settings.model_copy(update={"mysql_database": name, "cassandra_keyspace": name}), session
    session.execute(f"DROP KEYSPACE {name}")
    cluster.shutdown()
    with mysql_admin(settings, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE `{name}`")


def mysql_state(settings) -> dict[str, object]:
    """Every table's definition and rows, and the revision the database is at."""
    state: dict[str, object] = {}
    with mysql_admin(settings, database=settings.mysql_database) as connection, connection.cursor() as cursor:
        cursor.execute("SHOW TABLES")
        for (table,) in cursor.fetchall():
            cursor.execute(f"SHOW CREATE TABLE `{table}`")
            (_, state[f"{table} definition"]) = cursor.fetchone() or ("", "")
            cursor.execute(f"SELECT * FROM `{table}`")
            state[f"{table} rows"] = sorted(map(str, cursor.fetchall()))
    return state


def test_an_install_of_the_first_release_is_migrated_to_head_with_every_row_kept(scratch, tmp_path):
    settings, session = scratch
    database = settings.mysql_database
    assert migrations.migrate_mysql(settings, database, target="0001") == "revision none -> 0001"
    with mysql_admin(settings, database=database, autocommit=True) as connection, connection.cursor() as cursor:
        for insert in ROWS.values():
            cursor.execute(insert)
    before = mysql_state(settings)

    head = mysql_head()
    assert migrations.migrate_mysql(settings, database) == f"revision 0001 -> {head}"
    after = mysql_state(settings)
    assert after["sales_by_minute rows"] == before["sales_by_minute rows"]
    assert checkpoint_ids(settings) == [
        ("stream_commits", "orders_stream", 41, ""),
        ("stream_progress", "orders_stream", 41, ""),
    ]
    assert "PRIMARY KEY (`query_name`,`checkpoint_id`,`batch_id`)" in str(after["stream_progress definition"])
    # The minute windows already there, rolled up into their hour and day; no lag known for old batches.
    with mysql_admin(settings, database=database) as connection, connection.cursor() as cursor:
        for table, start, end in (
            ("sales_by_hour", "2026-12-01 10:00:00", "2026-12-01 11:00:00"),
            ("sales_by_day", "2026-12-01 00:00:00", "2026-12-02 00:00:00"),
        ):
            cursor.execute(f"SELECT window_start, window_end, source, state, orders, units, revenue FROM {table}")
            assert [tuple(map(str, row)) for row in cursor.fetchall()] == [
                (start, end, "Takeaway", "CA", "3", "7", "21.00")
            ], table
        cursor.execute("SELECT consumer_lag FROM stream_progress")
        assert cursor.fetchall() == ((None,),)
    assert migrations.migrate_mysql(settings, database) == f"revision {head}"
    assert mysql_state(settings) == after

    first = tmp_path / "cql"  # the first release's migrations only
    first.mkdir()
    shutil.copy(cql_migrations()[0].path, first)
    assert migrations.migrate_cassandra(session, first) == "version 0 -> 1"
    order_id = uuid.uuid4()
    session.execute(
        "INSERT INTO orders (order_id, quantity, total, created_at) VALUES (%s, 2, 7.00, %s)",
        (order_id, datetime.now(UTC)),
    )
    (first / "0002_channel.cql").write_text(CHANNEL)
    assert migrations.migrate_cassandra(session, first) == "version 1 -> 2"
    row = session.execute("SELECT quantity, total, channel FROM orders WHERE order_id = %s", (order_id,)).one()
    assert (row.quantity, row.total, row.channel) == (2, Decimal("7.00"), None)
    assert migrations.migrate_cassandra(session, first) == "version 2"


def checkpoint_ids(settings) -> list[tuple]:
    """The rows of stream_commits and stream_progress, with the checkpoint each names."""
    found = []
    with mysql_admin(settings, database=settings.mysql_database) as connection, connection.cursor() as cursor:
        for table in ("stream_commits", "stream_progress"):
            cursor.execute(f"SELECT query_name, batch_id, checkpoint_id FROM {table}")
            found += [(table, *row) for row in cursor.fetchall()]
    return found


def test_a_revision_that_fails_halfway_leaves_the_previous_one_and_runs_again(scratch, tmp_path):
    settings, session = scratch
    mysql_copy = shutil.copytree(MYSQL_MIGRATIONS, tmp_path / "mysql", ignore=shutil.ignore_patterns("__pycache__"))
    head = mysql_head()
    broken = mysql_copy / "versions" / "9999_probe.py"
    broken.write_text(
        f'"""A test revision."""\n\nfrom alembic import op\n\nrevision = "9999"\ndown_revision = "{head}"\n\n\n'
        "def upgrade() -> None:\n"
        '    op.execute("CREATE TABLE IF NOT EXISTS probe (x INT)")\n'
        '    op.execute("CREATE TABLE IF NOT EXISTS probe_2 (")\n'
    )
    with pytest.raises(MigrationError, match=rf"revision 9999 \(A test revision.\) failed: .*stays at revision {head}"):
        migrations.migrate_mysql(settings, settings.mysql_database, mysql_copy)
    assert "probe definition" in mysql_state(settings), "the statement before the failure did run"
    broken.write_text(broken.read_text().replace("probe_2 (", "probe_2 (x INT)"))
    assert migrations.migrate_mysql(settings, settings.mysql_database, mysql_copy) == f"revision {head} -> 9999"

    cql_copy = shutil.copytree(CASSANDRA_MIGRATIONS, tmp_path / "cql")
    version = cql_migrations()[-1].version
    probe = cql_copy / "9999_probe.cql"
    probe.write_text("CREATE TABLE IF NOT EXISTS probe (x int PRIMARY KEY);\nCREATE TABLE IF NOT EXISTS probe_2 (;\n")
    with pytest.raises(MigrationError, match=rf"migration 9999_probe.cql failed: .*stays at version {version}"):
        migrations.migrate_cassandra(session, cql_copy)
    probe.write_text(
        "CREATE TABLE IF NOT EXISTS probe (x int PRIMARY KEY);\n"
        "CREATE TABLE IF NOT EXISTS probe_2 (x int PRIMARY KEY);\n"
    )
    assert migrations.migrate_cassandra(session, cql_copy) == f"version {version} -> 9999"


def test_a_migration_edited_after_it_ran_is_refused(scratch, tmp_path):
    _, session = scratch
    cql_copy = shutil.copytree(CASSANDRA_MIGRATIONS, tmp_path / "cql")
    migrations.migrate_cassandra(session, cql_copy)
    first = cql_copy / "0001_initial.cql"
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(MigrationError, match=r"0001_initial\.cql changed after it was applied"):
        migrations.migrate_cassandra(session, cql_copy)


def test_a_dataset_changed_in_the_bundle_reaches_an_installed_dashboard(settings):
    files = dashboard.bundle_files(settings)
    name = next(name for name in files if name.endswith("stream_progress.yaml"))
    column = {**files[name]["columns"][0], "column_name": "probe_rows", "expression": "input_rows * 2"}
    changed = {**files, name: {**files[name], "columns": [*files[name]["columns"], column]}}
    try:
        dashboard.import_bundle(settings, changed)
        assert "probe_rows" in dataset_columns(settings, files[name]["table_name"])
    finally:
        dashboard.import_bundle(settings)
    assert "probe_rows" not in dataset_columns(settings, files[name]["table_name"])


def dataset_columns(settings, table: str) -> set[str]:
    with dashboard.SupersetClient(settings) as superset:
        found = superset.get("/api/v1/dataset/", q=f"(filters:!((col:table_name,opr:eq,value:{table})))")
        (dataset,) = found["result"]
        detail = superset.get(f"/api/v1/dataset/{dataset['id']}")
    return {column["column_name"] for column in detail["result"]["columns"]}
