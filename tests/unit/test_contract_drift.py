"""The schema files must agree with the order contract: a field added to `Order`
and not to the tables (or a column too narrow for an enum) fails here."""

import re
import typing
from datetime import datetime
from decimal import Decimal
from uuid import UUID

import pytest
from pydantic import AwareDatetime

from pipeline.contract import Order, PaymentMethod, Source
from tests.schema import table_columns

CQL_TYPES = {
    UUID: "uuid",
    int: "int",
    str: "text",
    Decimal: "decimal",
    datetime: "timestamp",
    AwareDatetime: "timestamp",
}


def python_type(field: str) -> type:
    """The field's type without Optional and Annotated wrappers; enums and codes count as str."""
    annotation = Order.model_fields[field].annotation
    arg = next(a for a in typing.get_args(annotation) or (annotation,) if a is not type(None))
    while typing.get_origin(arg) is typing.Annotated:
        arg = typing.get_args(arg)[0]
    return str if issubclass(arg, str) else arg


@pytest.mark.parametrize("table", ["orders", "orders_by_time"])
def test_every_contract_field_is_a_cassandra_column_of_the_matching_type(table):
    columns = table_columns("cassandra", table)
    expected = {field: CQL_TYPES[python_type(field)] for field in Order.model_fields}
    assert {field: columns.get(field) for field in expected} == expected


def width(sql_type: str) -> int:
    size = re.search(r"\((\d+)", sql_type)
    assert size, f"{sql_type} has no width"
    return int(size.group(1))


@pytest.mark.parametrize("table", ["sales_by_minute"])
def test_mysql_dimension_columns_hold_every_enum_value(table):
    columns = table_columns("mysql", table)
    assert width(columns["source"]) >= max(len(s.value) for s in Source)
    assert width(columns["payment_method"]) >= max(len(m.value) for m in [*PaymentMethod])
    assert width(columns["payment_method"]) >= len("unknown")
    assert columns["currency"].upper() == "CHAR(3)"
    assert columns["revenue"].upper().startswith("DECIMAL(")
    assert columns["revenue"].endswith(",2)")


def test_mysql_product_column_holds_the_longest_product_id():
    bound = re.search(r"\{1,(\d+)\}", Order.model_fields["product_id"].metadata[0].pattern)
    assert bound
    longest = int(bound.group(1))
    assert width(table_columns("mysql", "product_sales_by_minute")["product_id"]) == longest
