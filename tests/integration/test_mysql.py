from datetime import datetime
from decimal import Decimal

import pymysql
import pytest

UPSERT = """
INSERT INTO sales_by_minute
  (window_start, window_end, source, state, payment_method, currency, orders, units, revenue)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON DUPLICATE KEY UPDATE orders = VALUES(orders), units = VALUES(units), revenue = VALUES(revenue)
"""
WINDOW = (datetime(2001, 1, 1, 10, 0), datetime(2001, 1, 1, 10, 1), "Dine In", "CA", "visa", "USD")


def connect(settings, user, password):
    return pymysql.connect(
        host=settings.mysql_host,
        port=settings.mysql_port,
        user=user,
        password=password.get_secret_value(),
        database=settings.mysql_database,
    )


@pytest.fixture
def pipeline_db(settings):
    with connect(settings, settings.mysql_user, settings.mysql_password) as connection:
        yield connection
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM sales_by_minute WHERE window_start = %s", (WINDOW[0],))
        connection.commit()


@pytest.fixture
def dashboard_db(settings):
    with connect(settings, settings.mysql_readonly_user, settings.mysql_readonly_password) as connection:
        yield connection


def test_upserting_a_window_twice_keeps_one_row_with_the_second_values(pipeline_db):
    with pipeline_db.cursor() as cursor:
        cursor.execute("DELETE FROM sales_by_minute WHERE window_start = %s", (WINDOW[0],))
        cursor.execute(UPSERT, (*WINDOW, 2, 5, Decimal("1500.00")))
        cursor.execute(UPSERT, (*WINDOW, 3, 7, Decimal("2100.10")))
        pipeline_db.commit()
        cursor.execute("SELECT orders, units, revenue FROM sales_by_minute WHERE window_start = %s", (WINDOW[0],))
        assert cursor.fetchall() == ((3, 7, Decimal("2100.10")),)


def test_the_dashboard_user_reads_but_cannot_write(dashboard_db, pipeline_db):
    with pipeline_db.cursor() as cursor:
        cursor.execute(UPSERT, (*WINDOW, 1, 1, Decimal("1.00")))
        pipeline_db.commit()
    with dashboard_db.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM sales_by_minute WHERE window_start = %s", (WINDOW[0],))
        assert cursor.fetchone() == (1,)
        for statement, args in (
            (UPSERT, (*WINDOW, 9, 9, Decimal("9.00"))),
            ("UPDATE sales_by_minute SET revenue = 0", None),
            ("DELETE FROM sales_by_minute", None),
            ("CREATE TABLE intruder (x INT)", None),
            ("DROP TABLE sales_by_minute", None),
        ):
            with pytest.raises(pymysql.err.OperationalError) as refused:
                cursor.execute(statement, args)
            assert refused.value.args[0] == 1142, statement  # ER_TABLEACCESS_DENIED_ERROR
