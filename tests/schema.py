"""The tables the migrations make, read from their files: each table's columns and SQL types.

Columns come from each table's CREATE TABLE and from literal
`ALTER TABLE t ADD [COLUMN] [IF NOT EXISTS] column type` statements of later migrations.
"""

import re

from pipeline.stack.migrations import CASSANDRA_MIGRATIONS, MYSQL_MIGRATIONS

FILES = {"cassandra": (CASSANDRA_MIGRATIONS, "*.cql"), "mysql": (MYSQL_MIGRATIONS / "versions", "*.py")}


def table_columns(store: str, table: str) -> dict[str, str]:
    """column -> SQL type of the table as a migration of `store` creates it."""
    folder, pattern = FILES[store]
    text = "\n".join(path.read_text() for path in sorted(folder.glob(pattern)))
    found = re.search(rf"CREATE TABLE IF NOT EXISTS {table} \((.*?)\n\)", text, re.S)
    assert found, f"no migration of {store} creates {table}"
    columns = {}
    for line in found.group(1).splitlines():
        match = re.match(r"\s+(\w+)\s+(\w+(?:\(\d+(?:,\d+)?\))?)", line)
        if match and match.group(1) not in {"PRIMARY", "KEY"}:
            columns[match.group(1)] = match.group(2)
    added = re.findall(
        rf"ALTER TABLE {table} ADD (?:COLUMN )?(?:IF NOT EXISTS )?(\w+) (\w+(?:\(\d+(?:,\d+)?\))?)", text
    )
    return columns | dict(added)


def tables(store: str) -> list[str]:
    folder, pattern = FILES[store]
    text = "\n".join(path.read_text() for path in sorted(folder.glob(pattern)))
    return re.findall(r"CREATE TABLE IF NOT EXISTS (\w+) \(", text)
