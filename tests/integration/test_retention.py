"""Retention (`make retention`, and the job every RETENTION_INTERVAL_SECONDS): MySQL rows older
than their *_KEEP_DAYS setting go, everything younger stays, to the row."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from pipeline.retention import horizons
from pipeline.settings import REPO_ROOT

KEEP = {
    "minute_windows_keep_days": 3,
    "hour_windows_keep_days": 30,
    "day_windows_keep_days": 0,
    "progress_keep_days": 5,
}
# Rows no order can touch, by table kind: ISO 4217's code for tests, a product and a query no one has.
SALES = (
    "currency",
    "XTS",
    "INSERT INTO {table} (window_start, window_end, source, state, payment_method, currency, orders, units, revenue)"
    " VALUES (%(at)s, %(at)s + INTERVAL 1 MINUTE, 'Dine In', 'NY', 'cash', %(marker)s, 1, 1, 1.00)",
)
PRODUCT_SALES = (
    "product_id",
    "retention-test",
    "INSERT INTO {table} (window_start, window_end, product_id, orders, units, revenue)"
    " VALUES (%(at)s, %(at)s + INTERVAL 1 MINUTE, %(marker)s, 1, 1, 1.00)",
)
PROGRESS = (
    "query_name",
    "retention-test",
    "INSERT INTO {table} (query_name, checkpoint_id, batch_id, input_rows, rows_per_second, duration_ms, recorded_at)"
    " VALUES (%(marker)s, '', %(batch_id)s, 0, 0, 0, %(at)s)",
)


def test_retention_deletes_exactly_the_rows_older_than_each_setting(settings, mysql):
    keep = horizons(settings.model_copy(update=KEEP))
    assert len(keep) == 7
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    written, test_rows = {}, {}
    with mysql.cursor() as cursor:
        for table, (_column, days) in keep.items():
            marker, value, insert = (
                PROGRESS if table == "stream_progress" else PRODUCT_SALES if "product" in table else SALES
            )
            test_rows[table] = f"{marker} = '{value}'"
            cursor.execute(f"DELETE FROM {table} WHERE {test_rows[table]}")
            # An hour past the horizon, an hour inside it, and ten years ago.
            horizon = now - timedelta(days=days)
            written[table] = [now - timedelta(days=3650), horizon - timedelta(hours=1), horizon + timedelta(hours=1)]
            for batch_id, at in enumerate(written[table]):
                cursor.execute(insert.format(table=table), {"marker": value, "at": at, "batch_id": batch_id})

    result = subprocess.run(
        [sys.executable, "-m", "pipeline.retention"],
        cwd=REPO_ROOT,
        env={**os.environ, **{name.upper(): str(days) for name, days in KEEP.items()}},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr

    with mysql.cursor() as cursor:
        for table, (column, days) in keep.items():
            cursor.execute(f"SELECT {column} FROM {table} WHERE {test_rows[table]} ORDER BY 1")
            expected = [at for at in written[table] if days == 0 or at >= now - timedelta(days=days)]
            assert [row[0] for row in cursor.fetchall()] == expected, table
            cursor.execute(f"DELETE FROM {table} WHERE {test_rows[table]}")
    assert "retention: sales_by_minute: " in result.stdout  # a line per table
