"""reconcile.py's pure parts: the span it covers, and what backfill writes while the stream runs."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from spark_jobs.reconcile import backfilled, hours, span

A, B, C = ("10:00", "Dine In"), ("10:01", "Dine In"), ("10:02", "Takeaway")


def test_backfill_keeps_what_batches_committed_since_the_snapshot_exactly_once():
    recomputed = {A: (5, 9, Decimal("50.00")), B: (2, 2, Decimal("20.00"))}  # from the raw store, as of the snapshot
    snapshot = {A: (4, 8, Decimal("40.00")), C: (1, 1, Decimal("9.99"))}  # MySQL then: A wrong, B lost, C spurious
    now = {A: (6, 10, Decimal("60.00")), B: (1, 1, Decimal("5.00")), C: (1, 1, Decimal("9.99"))}  # two batches later
    assert backfilled(recomputed, now, snapshot) == {
        A: (7, 11, Decimal("70.00")),
        B: (3, 3, Decimal("25.00")),
        C: (0, 0, Decimal("0.00")),  # not written
    }


def test_the_span_is_whole_utc_hours_and_defaults_to_the_last_day():
    assert span("2026-12-05T10:20", "2026-12-05T12:00") == (datetime(2026, 12, 5, 10), datetime(2026, 12, 5, 12))
    assert span("2026-12-05T10:20+01:00", "2026-12-05T11:00:01") == (
        datetime(2026, 12, 5, 9),
        datetime(2026, 12, 5, 12),
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    start, end = span(None, None)
    assert now <= end <= now + timedelta(hours=1)
    assert end - start in (timedelta(hours=24), timedelta(hours=25))  # the last day, in whole hours
    assert list(hours(datetime(2026, 12, 5, 22), datetime(2026, 12, 6, 1))) == [
        datetime(2026, 12, 5, 22),
        datetime(2026, 12, 5, 23),
        datetime(2026, 12, 6, 0),
    ]
    with pytest.raises(ValueError, match="must be before"):
        span("2026-12-05T12:00", "2026-12-05T12:00")
