import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from pipeline.clients import cassandra_cluster

INSERT = (
    "INSERT INTO orders (order_id, customer_id, source, product_id, quantity, unit_price,"
    " currency, payment_method, created_at, total, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


@pytest.fixture
def session(settings):
    cluster = cassandra_cluster(settings)
    yield cluster.connect(settings.cassandra_keyspace)
    cluster.shutdown()


def test_writing_the_same_order_twice_leaves_one_row_with_the_last_values(session):
    order_id = uuid.uuid4()
    created = datetime(2026, 11, 23, 10, 0, 30, tzinfo=UTC)
    insert = session.prepare(INSERT)
    session.execute(
        insert,
        (order_id, 7, "Takeaway", "burger", 2, Decimal("300.00"), "USD", "visa", created, Decimal("600.00"), "CA"),
    )
    session.execute(
        insert,
        (order_id, 7, "Takeaway", "burger", 3, Decimal("300.00"), "USD", "visa", created, Decimal("900.00"), "CA"),
    )

    rows = list(session.execute("SELECT quantity, total, unit_price FROM orders WHERE order_id = %s", (order_id,)))
    session.execute("DELETE FROM orders WHERE order_id = %s", (order_id,))
    assert len(rows) == 1
    assert (rows[0].quantity, rows[0].total, rows[0].unit_price) == (3, Decimal("900.00"), Decimal("300.00"))
