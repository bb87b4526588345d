"""The migration files themselves: numbered, chained, and each statement safe to run twice."""

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from pipeline.stack.migrations import (
    CASSANDRA_MIGRATIONS,
    MYSQL_MIGRATIONS,
    MigrationError,
    cql_migrations,
    statements,
)


def test_cassandra_migrations_run_in_number_order_and_their_checksum_follows_their_text(tmp_path):
    for name in ("0002_add_channel.cql", "0010_later.cql", "0001_initial.cql"):
        (tmp_path / name).write_text(f"-- {name}\nCREATE TABLE IF NOT EXISTS t{name[:4]} (x int PRIMARY KEY);\n")
    found = cql_migrations(tmp_path)
    assert [(m.version, m.name) for m in found] == [(1, "initial"), (2, "add_channel"), (10, "later")]
    before = found[0].checksum
    (tmp_path / "0001_initial.cql").write_text("CREATE TABLE IF NOT EXISTS other (x int PRIMARY KEY);\n")
    assert cql_migrations(tmp_path)[0].checksum != before


@pytest.mark.parametrize(
    ("names", "problem"),
    [(["1_short.cql"], "NNNN_what_it_does"), (["0001_a.cql", "0001_b.cql"], "share a number")],
)
def test_misnamed_or_doubly_numbered_cassandra_migrations_are_refused(tmp_path, names, problem):
    for name in names:
        (tmp_path / name).write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match=problem):
        cql_migrations(tmp_path)


def test_every_cassandra_statement_is_safe_to_run_twice():
    for migration in cql_migrations(CASSANDRA_MIGRATIONS):
        for statement in statements(migration.text):
            assert "IF NOT EXISTS" in statement or "IF EXISTS" in statement, (migration.path.name, statement)


def test_mysql_revisions_form_one_chain_from_the_first_release():
    config = Config()
    config.set_main_option("script_location", str(MYSQL_MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    chain = [revision.revision for revision in script.walk_revisions()]
    assert script.get_heads() == [chain[0]]
    assert chain[-1] == "0001"
    assert chain == sorted(chain, reverse=True)
    assert all(revision.doc for revision in script.walk_revisions()), "each revision says what it does"
