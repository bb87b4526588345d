"""Commits and progress rows name the stream checkpoint they belong to.

A new checkpoint (after an upgrade of the stream) numbers its batches from 0
again; with the checkpoint's id beside the batch id, its first batches are
neither taken for ones already committed nor collide with the old progress
rows. Rows from before this revision get an empty id.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from pipeline.stack.migrations import column_exists

revision = "0002"
down_revision = "0001"

COLUMN = "checkpoint_id VARCHAR(36) NOT NULL DEFAULT '' COMMENT 'the Spark query id of the checkpoint'"


def upgrade() -> None:
    # One ALTER per table, each whole or not at all; checked first, so a retry skips what is done.
    if not column_exists("stream_commits", "checkpoint_id"):
        op.execute(f"ALTER TABLE stream_commits ADD COLUMN {COLUMN}")
    if not column_exists("stream_progress", "checkpoint_id"):
        op.execute(
            f"ALTER TABLE stream_progress ADD COLUMN {COLUMN}, "
            "DROP PRIMARY KEY, ADD PRIMARY KEY (query_name, checkpoint_id, batch_id)"
        )
