"""Each progress row counts the repeats its batch dropped: orders already counted, resent
within IDEMPOTENCY_HORIZON.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from pipeline.stack.migrations import column_exists

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    if not column_exists("stream_progress", "repeats"):
        op.execute(
            "ALTER TABLE stream_progress ADD COLUMN repeats BIGINT NOT NULL DEFAULT 0 "
            "COMMENT 'orders already counted, resent within IDEMPOTENCY_HORIZON: dropped'"
        )
