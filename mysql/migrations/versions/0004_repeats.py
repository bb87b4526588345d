"""Each progress row counts the repeats its batch dropped: orders already counted, resent
within IDEMPOTENCY_HORIZON.

Revision ID: 0004
Revises: 0003
"""

from alembic import op
from sqlalchemy import text

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    found = op.get_bind().execute(
        text(
            "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE() "
            "AND table_name = 'stream_progress' AND column_name = 'repeats'"
        )
    )
    if not found.scalar():
        op.execute(
            "ALTER TABLE stream_progress ADD COLUMN repeats BIGINT NOT NULL DEFAULT 0 "
            "COMMENT 'orders already counted, resent within IDEMPOTENCY_HORIZON: dropped'"
        )
