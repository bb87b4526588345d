"""Retention: window and progress rows older than their settings are deleted from MySQL.

Usage:
    make retention                        # once, now
    python -m pipeline.retention          # the same

The streaming job also runs it every RETENTION_INTERVAL_SECONDS. Minute
windows can go first: every batch adds to the hour and day rollups in the
transaction that adds to its minutes, so the rollups already hold what a purge
removes. Each *_KEEP_DAYS setting keeps that many days back from now (UTC);
0 keeps everything. Deletes run in chunks, each its own transaction, so the
stream's commits never wait long behind one.
"""

import sys
from datetime import UTC, datetime, timedelta

import pymysql

from pipeline.clients import mysql_connection
from pipeline.settings import Settings, get_settings

CHUNK_ROWS = 10_000


def horizons(settings: Settings) -> dict[str, tuple[str, int]]:
    """Each table: the column that dates its rows, and how many days of them to keep."""
    windows = {
        f"{table}_by_{period}": ("window_start", getattr(settings, f"{period}_windows_keep_days"))
        for table in ("sales", "product_sales")
        for period in ("minute", "hour", "day")
    }
    return {**windows, "stream_progress": ("recorded_at", settings.progress_keep_days)}


def purge(settings: Settings, now: datetime | None = None) -> dict[str, int]:
    """Delete what is older than each table's horizon; rows deleted per table."""
    now = (now or datetime.now(UTC)).replace(tzinfo=None)  # MySQL's columns hold naive UTC
    deleted: dict[str, int] = {}
    with mysql_connection(settings, autocommit=True) as connection, connection.cursor() as cursor:
        for table, (column, days) in horizons(settings).items():
            if days <= 0:
                continue
            before, deleted[table] = now - timedelta(days=days), 0
            while count := cursor.execute(f"DELETE FROM {table} WHERE {column} < %s LIMIT {CHUNK_ROWS}", (before,)):
                deleted[table] += count
    return deleted


def main() -> None:
    settings = get_settings()
    try:
        deleted = purge(settings)
    except pymysql.MySQLError as error:
        sys.exit(f"retention: mysql at {settings.mysql_host}:{settings.mysql_port} failed: {error}")
    for table, count in deleted.items():
        print(f"retention: {table}: {count} rows older than {horizons(settings)[table][1]} days deleted")


if __name__ == "__main__":
    main()
