"""Hourly and daily rollups of both window tables; consumer lag on each progress row, and an
index on its newest event time.

The stream adds each batch's increments to the minute, hour and day tables in
the one transaction that records the batch, so "today" and "the last 7 days"
read a few hundred rows per dimension, and retention may purge minute windows
that their hours and days already hold. An install that has minute windows
gets its hours and days computed from them here (recomputed, not added: a
retry after a failure writes the same totals).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from pipeline.stack.migrations import column_exists

revision = "0003"
down_revision = "0002"

DIMENSIONS = {
    "sales": "source, state, payment_method, currency",
    "product_sales": "product_id",
}
# MySQL's and MariaDB's shared spelling of "the start of the hour / day".
PERIOD_START = {"hour": "DATE_FORMAT(window_start, '%Y-%m-%d %H:00:00')", "day": "DATE(window_start)"}


def upgrade() -> None:
    for table, dimensions in DIMENSIONS.items():
        for period, start in PERIOD_START.items():
            rollup = f"{table}_by_{period}"
            op.execute(f"CREATE TABLE IF NOT EXISTS {rollup} LIKE {table}_by_minute")
            op.execute(
                f"INSERT INTO {rollup} (window_start, window_end, {dimensions}, orders, units, revenue) "
                f"SELECT {start}, {start} + INTERVAL 1 {period.upper()}, {dimensions}, "
                f"SUM(orders), SUM(units), SUM(revenue) FROM {table}_by_minute "
                f"GROUP BY {start}, {dimensions} "
                "ON DUPLICATE KEY UPDATE orders = VALUES(orders), units = VALUES(units), revenue = VALUES(revenue)"
            )
    # One ALTER, whole or not at all: the dashboard's "since the newest order" reads MAX(max_event_time).
    if not column_exists("stream_progress", "consumer_lag"):
        op.execute(
            "ALTER TABLE stream_progress ADD COLUMN consumer_lag BIGINT NULL "
            "COMMENT 'offsets of orders behind the end of the topic when the batch committed', "
            "ADD KEY max_event_time (max_event_time)"
        )
