"""Versioned schema migrations of the two stores, each install recording where it stands.

MySQL: Alembic, with the plain-SQL revisions of mysql/migrations/versions;
the revision reached is in the database's alembic_version table. Cassandra:
the numbered CQL files of cassandra/migrations, applied in order by
`migrate_cassandra`; each applied file is recorded, with a checksum, in the
keyspace's schema_migrations table. Both run on every `make up` (and `make
migrate`); a revision that fails leaves the install at the one before it, and
the next run tries it again, so every statement must be safe to run twice.
docs/upgrading.md has the order of steps around them.
"""

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from alembic import command, op
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from cassandra.cluster import Session
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

from pipeline.clients import mysql_admin
from pipeline.settings import REPO_ROOT, Settings

MYSQL_MIGRATIONS = REPO_ROOT / "mysql" / "migrations"
CASSANDRA_MIGRATIONS = REPO_ROOT / "cassandra" / "migrations"
CQL_FILE = re.compile(r"^(\d{4})_(\w+)\.cql$")
SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version int PRIMARY KEY, name text, checksum text, applied_at timestamp
)"""


def statements(text: str) -> list[str]:
    """Split a schema file on semicolons that end a line; whole-line comments dropped."""
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [part.strip() for part in re.split(r";\s*$", code, flags=re.M) if part.strip()]


def column_exists(table: str, column: str) -> bool:
    """For a revision: whether the column is there already, so a retry skips its ALTER (MySQL 8.4,
    unlike MariaDB, has no ADD COLUMN IF NOT EXISTS)."""
    found = op.get_bind().execute(
        text(
            "SELECT COUNT(*) FROM information_schema.columns "
            "WHERE table_schema = DATABASE() AND table_name = :table AND column_name = :column"
        ),
        {"table": table, "column": column},
    )
    return bool(found.scalar())


class MigrationError(Exception):
    """A revision failed; the message names it and where the install stands."""


def mysql_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def alembic_config(location: Path = MYSQL_MIGRATIONS) -> Config:
    config = Config()
    config.set_main_option("script_location", str(location))
    return config


def mysql_head(location: Path = MYSQL_MIGRATIONS) -> str | None:
    """The newest revision of the scripts at `location`."""
    return ScriptDirectory.from_config(alembic_config(location)).get_current_head()


def migrate_mysql(settings: Settings, database: str, location: Path = MYSQL_MIGRATIONS, target: str = "head") -> str:
    """Upgrade the database to `target`, one revision at a time; what was done."""
    config = alembic_config(location)
    script = ScriptDirectory.from_config(config)
    engine = create_engine(
        "mysql+pymysql://", creator=lambda: mysql_admin(settings, database=database), poolclass=NullPool
    )
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        before = mysql_revision(connection)
        pending = list(reversed(list(script.iterate_revisions(target, before))))
        for revision in pending:
            try:
                command.upgrade(config, revision.revision)
                connection.commit()  # the revision's stamp in alembic_version; its DDL committed itself
            except Exception as error:  # any failure of a revision's SQL
                reason = " ".join(str(getattr(error, "orig", None) or error).split())  # the server's words
                raise MigrationError(
                    f"revision {revision.revision} ({revision.doc}) failed: {reason}; the database stays at "
                    f"revision {mysql_revision(connection) or 'none'}, and the next run tries it again"
                ) from error
        after = mysql_revision(connection)
    engine.dispose()
    return f"revision {after}" if before == after else f"revision {before or 'none'} -> {after}"


@dataclass(frozen=True)
class CqlMigration:
    version: int
    name: str
    path: Path

    @property
    def text(self) -> str:
        return self.path.read_text()

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def cql_migrations(location: Path = CASSANDRA_MIGRATIONS) -> list[CqlMigration]:
    """The numbered .cql files, in order; a misnamed or doubly numbered file is an error."""
    found = []
    for path in sorted(location.glob("*.cql")):
        match = CQL_FILE.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: a Cassandra migration is named NNNN_what_it_does.cql")
        found.append(CqlMigration(int(match[1]), match[2], path))
    versions = [migration.version for migration in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two Cassandra migrations share a number in {location}")
    return found


def migrate_cassandra(session: Session, location: Path = CASSANDRA_MIGRATIONS) -> str:
    """Apply the migrations the keyspace (the session's) has not had yet; what was done."""
    session.execute(SCHEMA_MIGRATIONS)
    applied = {row.version: row.checksum for row in session.execute("SELECT version, checksum FROM schema_migrations")}
    before = max(applied, default=0)
    for migration in cql_migrations(location):
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                raise MigrationError(f"{migration.path.name} changed after it was applied; add a new migration instead")
            continue
        try:
            for statement in statements(migration.text):
                session.execute(statement)
        except Exception as error:  # any refused statement
            reason = " ".join(str(error).split())
            raise MigrationError(
                f"migration {migration.path.name} failed: {reason}; the keyspace stays at version "
                f"{max(applied, default=0)}, and the next run tries it again"
            ) from error
        session.execute(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (%s, %s, %s, %s)",
            (migration.version, migration.name, migration.checksum, datetime.now(UTC)),
        )
        applied[migration.version] = migration.checksum
    after = max(applied, default=0)
    return f"version {after}" if before == after else f"version {before} -> {after}"
