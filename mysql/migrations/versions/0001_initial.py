"""The pipeline's MySQL tables as first released.

Revision ID: 0001
Revises:
"""

from alembic import op

from pipeline.stack.migrations import statements

revision = "0001"
down_revision = None

SQL = """
-- Customers dimension, loaded from reference data; the stream enriches orders with it.
CREATE TABLE IF NOT EXISTS customers (
  customer_id INT UNSIGNED NOT NULL PRIMARY KEY,
  name        VARCHAR(100) NOT NULL,
  state       CHAR(2)      NOT NULL,
  country     CHAR(2)      NOT NULL,
  segment     VARCHAR(32)  NOT NULL
);

-- Event-time windows with their dimensions. Each micro-batch adds its counts
-- to its windows in the transaction that records its batch id in
-- stream_commits, so a batch replayed after a crash adds nothing twice.
CREATE TABLE IF NOT EXISTS sales_by_minute (
  window_start   DATETIME      NOT NULL,
  window_end     DATETIME      NOT NULL,
  source         VARCHAR(16)   NOT NULL,
  state          CHAR(2)       NOT NULL COMMENT '?? when the customer is unknown',
  payment_method VARCHAR(16)   NOT NULL COMMENT 'unknown when the order has none',
  currency       CHAR(3)       NOT NULL,
  orders         BIGINT UNSIGNED NOT NULL,
  units          BIGINT UNSIGNED NOT NULL,
  revenue        DECIMAL(20,2) NOT NULL,
  updated_at     TIMESTAMP(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (window_start, window_end, source, state, payment_method, currency)
);

-- Per-product windows for the top-products chart; same rule.
CREATE TABLE IF NOT EXISTS product_sales_by_minute (
  window_start DATETIME      NOT NULL,
  window_end   DATETIME      NOT NULL,
  product_id   VARCHAR(64)   NOT NULL,
  orders       BIGINT UNSIGNED NOT NULL,
  units        BIGINT UNSIGNED NOT NULL,
  revenue      DECIMAL(20,2) NOT NULL,
  updated_at   TIMESTAMP(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (window_start, window_end, product_id)
);

-- Last committed batch per streaming query, written in the same transaction
-- as that batch's upserts: a batch replayed after a crash is recognised and skipped.
CREATE TABLE IF NOT EXISTS stream_commits (
  query_name   VARCHAR(64)  NOT NULL PRIMARY KEY,
  batch_id     BIGINT       NOT NULL,
  committed_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
);

-- One row per micro-batch; the dashboard's freshness chart reads it.
CREATE TABLE IF NOT EXISTS stream_progress (
  query_name      VARCHAR(64) NOT NULL,
  batch_id        BIGINT      NOT NULL,
  input_rows      BIGINT      NOT NULL,
  dead_letters    BIGINT      NOT NULL DEFAULT 0,
  rows_per_second DOUBLE      NOT NULL,
  duration_ms     BIGINT      NOT NULL,
  max_event_time  DATETIME(3) NULL,
  watermark       DATETIME(3) NULL,
  late_rows       BIGINT      NOT NULL DEFAULT 0,
  recorded_at     TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (query_name, batch_id),
  KEY recorded_at (recorded_at)
);
"""


def upgrade() -> None:
    for statement in statements(SQL):
        op.execute(statement)
