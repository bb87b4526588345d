"""Every rule of the order contract, on both its accept and its reject side."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from pydantic import ValidationError

from pipeline.contract import MAX_QUANTITY, Order, PaymentMethod, RepeatedKey, Source, loads, validate_batch

VALID = {"customer_id": 7, "source": "Dine In", "quantity": 2}


def order(**changes) -> Order:
    return Order.model_validate({**VALID, **changes})


def rejected_fields(**changes) -> set[str]:
    with pytest.raises(ValidationError) as error:
        order(**changes)
    return {".".join(map(str, e["loc"])) for e in error.value.errors()}


def test_minimal_order_gets_every_default():
    o = order()
    assert isinstance(o.order_id, UUID)
    assert (o.product_id, o.unit_price, o.currency, o.payment_method) == ("default", Decimal("300.00"), "USD", None)
    assert abs(o.created_at - datetime.now(UTC)) < timedelta(seconds=5)
    assert o.total == Decimal("600.00")


def test_client_order_id_is_kept_as_the_idempotency_key():
    assert (
        str(order(order_id="0b7e1f1c-8a0e-4f6e-9d1a-2c3b4d5e6f70").order_id) == "0b7e1f1c-8a0e-4f6e-9d1a-2c3b4d5e6f70"
    )
    assert rejected_fields(order_id="not-a-uuid") == {"order_id"}


@pytest.mark.parametrize("customer_id", [1, 2**31 - 1])
def test_customer_id_bounds_accept(customer_id):
    assert order(customer_id=customer_id).customer_id == customer_id


@pytest.mark.parametrize("customer_id", [0, -1, 2**31, "7", 7.0, True, None])
def test_customer_id_must_be_a_positive_json_integer(customer_id):
    assert rejected_fields(customer_id=customer_id) == {"customer_id"}


@pytest.mark.parametrize("source", list(Source))
def test_every_source_is_accepted(source):
    assert order(source=source.value).source is source


@pytest.mark.parametrize("source", ["dine in", "DINE IN", "Delivery", "", 1])
def test_unknown_sources_are_rejected(source):
    assert rejected_fields(source=source) == {"source"}


@pytest.mark.parametrize("product_id", ["a", "burger_classic-2", "x" * 64])
def test_product_id_accepts_1_to_64_safe_characters(product_id):
    assert order(product_id=product_id).product_id == product_id


@pytest.mark.parametrize("product_id", ["", "x" * 65, "burger classic", "b'; DROP TABLE orders;--", "é"])
def test_product_id_rejects_anything_else(product_id):
    assert rejected_fields(product_id=product_id) == {"product_id"}


@pytest.mark.parametrize("quantity", [1, MAX_QUANTITY])
def test_quantity_bounds_accept(quantity):
    assert order(quantity=quantity).quantity == quantity


@pytest.mark.parametrize("quantity", [0, MAX_QUANTITY + 1, 1.5, "2", None])
def test_quantity_outside_bounds_or_not_integer_is_rejected(quantity):
    assert rejected_fields(quantity=quantity) == {"quantity"}


@pytest.mark.parametrize(("price", "stored"), [(Decimal("12.5"), "12.50"), ("0.01", "0.01"), (300, "300.00")])
def test_unit_price_is_kept_to_the_cent(price, stored):
    assert str(order(unit_price=price).unit_price) == stored


@pytest.mark.parametrize(
    "price", [0, Decimal("-1"), Decimal("1.234"), Decimal("NaN"), Decimal("Infinity"), "abc", Decimal("100000000")]
)
def test_unit_price_must_be_positive_with_two_decimals(price):
    assert rejected_fields(unit_price=price) == {"unit_price"}


@pytest.mark.parametrize(("currency", "stored"), [("EUR", "EUR"), ("jpy", "JPY")])
def test_currency_is_an_iso_4217_code(currency, stored):
    assert order(currency=currency).currency == stored


@pytest.mark.parametrize("currency", ["ABC", "US", "USDX", "", 840])
def test_unknown_currency_is_rejected(currency):
    assert rejected_fields(currency=currency) == {"currency"}


@pytest.mark.parametrize("method", list(PaymentMethod))
def test_every_payment_method_is_accepted(method):
    assert order(payment_method=method.value).payment_method is method


def test_unknown_payment_method_is_rejected():
    assert rejected_fields(payment_method="bitcoin") == {"payment_method"}


def test_created_at_is_normalised_to_utc():
    assert order(created_at="2026-01-15T12:00:00+02:00").created_at == datetime(2026, 1, 15, 10, tzinfo=UTC)


def test_created_at_up_to_five_minutes_ahead_is_accepted():
    assert order(created_at=(datetime.now(UTC) + timedelta(minutes=4)).isoformat())


def test_created_at_over_five_minutes_ahead_is_rejected():
    assert rejected_fields(created_at=(datetime.now(UTC) + timedelta(minutes=6)).isoformat()) == {"created_at"}


def test_created_at_before_the_unix_epoch_is_rejected():
    assert order(created_at="1970-01-01T00:00:00Z").created_at == datetime(1970, 1, 1, tzinfo=UTC)
    assert rejected_fields(created_at="1969-12-31T23:59:59.999999Z") == {"created_at"}
    assert rejected_fields(created_at="0001-01-01T00:00:00Z") == {"created_at"}


@pytest.mark.parametrize("created_at", ["2026-01-15T10:00:00", "yesterday", 1700000000])
def test_created_at_without_offset_or_not_a_timestamp_is_rejected(created_at):
    assert rejected_fields(created_at=created_at) == {"created_at"}


def test_total_is_computed_in_decimal():
    assert order(quantity=3, unit_price="0.10").total == Decimal("0.30")  # 0.30000000000000004 as a float


@pytest.mark.parametrize("total", ["600", "600.00", Decimal("600.0")])
def test_a_sent_total_equal_to_quantity_times_price_is_accepted(total):
    assert order(total=total).total == Decimal("600.00")


def test_the_largest_order_total_is_accepted_whether_sent_or_computed():
    largest = {"quantity": MAX_QUANTITY, "unit_price": "99999999.99"}
    assert order(**largest).total == order(**largest, total="999999999900.00").total == Decimal("999999999900.00")


def test_a_sent_total_that_differs_is_rejected_on_total():
    assert rejected_fields(total="599.99") == {"total"}


def test_unknown_fields_are_rejected_by_name():
    assert rejected_fields(discount=5) == {"discount"}


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('{"customer_id": 7, "source": "Dine In", "quantity": 2, "quantity": 2}', "quantity"),
        ('[{"customer_id": 7}, {"source": "Dine In", "source": "Takeaway"}]', "source"),
    ],
)
def test_a_repeated_key_is_refused_by_name_not_read_as_its_last_value(body, key):
    with pytest.raises(RepeatedKey) as error:
        loads(body)
    assert error.value.key == key


def test_the_kafka_record_is_keyed_by_order_id_and_carries_money_as_strings():
    o = order(unit_price="12.50", payment_method="amex", created_at="2026-01-15T10:00:00Z")
    key, value = o.record()
    assert key == str(o.order_id).encode()
    assert value.decode() == (
        f'{{"order_id":"{o.order_id}","customer_id":7,"source":"Dine In","product_id":"default","quantity":2,'
        '"unit_price":"12.50","currency":"USD","payment_method":"amex","created_at":"2026-01-15T10:00:00Z","total":"25.00"}'
    )


def test_a_batch_refuses_a_repeated_order_id_and_keeps_the_first():
    order = {"order_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "customer_id": 1, "source": "Takeaway", "quantity": 1}
    first, bad, again = validate_batch([order, {"customer_id": 0}, {**order, "quantity": 2}], max_orders=3)
    assert isinstance(first, Order)
    assert isinstance(bad, list)
    assert [problem["field"] for problem in bad] == ["customer_id", "source", "quantity"]
    assert again == [{"field": "order_id", "reason": "same order_id as item 0", "type": "duplicate_order_id"}]


@pytest.mark.parametrize(
    ("body", "reason"),
    [([], "non-empty JSON array"), ({"orders": []}, "non-empty JSON array"), ([{}] * 4, "4 orders; at most 3")],
)
def test_a_batch_body_that_is_not_a_short_array_is_refused_whole(body, reason):
    with pytest.raises(ValueError, match=reason):
        validate_batch(body, max_orders=3)
