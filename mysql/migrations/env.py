"""Alembic's entry point for the pipeline's MySQL migrations (pipeline/stack/migrations.py runs it).

Each revision in versions/ is plain SQL, forward only, and safe to run again:
MySQL commits each DDL statement by itself, so a revision that failed halfway
is run again from its start. The revision reached is recorded in the
database's alembic_version table after each revision.
"""

from alembic import context

context.configure(connection=context.config.attributes["connection"], transaction_per_migration=True)
with context.begin_transaction():
    context.run_migrations()
