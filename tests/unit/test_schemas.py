import pytest

from pipeline.settings import REPO_ROOT
from pipeline.stack.migrations import statements
from pipeline.stack.schemas import identifier


def test_statements_split_on_line_ending_semicolons_and_drop_comment_lines():
    text = "-- a comment; not a statement\nCREATE TABLE a (x int);\n\nINSERT INTO a VALUES (1); -- trailing\nSELECT 1\n"
    assert statements(text) == ["CREATE TABLE a (x int)", "INSERT INTO a VALUES (1); -- trailing\nSELECT 1"]


@pytest.mark.parametrize(
    ("path", "count"),
    [("mysql/users.sql", 6), ("cassandra/migrations/0001_initial.cql", 2)],
)
def test_schema_files_hold_the_designed_statements(path, count):
    found = statements((REPO_ROOT / path).read_text())
    assert len(found) == count
    assert all("IF NOT EXISTS" in s or s.startswith(("ALTER USER", "GRANT")) for s in found)


@pytest.mark.parametrize("name", ["sales", "sales_2026", "_x"])
def test_valid_names_pass(name):
    assert identifier(name) == name


@pytest.mark.parametrize("name", ["", "1sales", "sales; DROP TABLE x", "sa`les", "a" * 49])
def test_names_that_could_inject_ddl_are_refused(name):
    with pytest.raises(ValueError, match="not a valid keyspace or database name"):
        identifier(name)
