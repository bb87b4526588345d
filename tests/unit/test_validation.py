"""The stream's validation (spark_jobs/validation.py) on static DataFrames: it accepts what the contract does."""

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipeline.contract import Order
from pipeline.simulate import BREAKERS, OrderGenerator
from spark_jobs import validation
from tests.unit.frames import NOW, generated_orders, records, rows


def test_the_spark_schema_is_derived_from_every_contract_field():
    assert list(Order.model_fields) == validation.ORDER_COLUMNS
    types = {f.name: f.dataType for f in validation.ORDER_SCHEMA.fields}
    assert types["customer_id"] == T.IntegerType()
    assert types["quantity"] == T.IntegerType()
    assert types["unit_price"] == T.DecimalType(10, 2)
    assert types["total"] == T.DecimalType(14, 2)
    assert types["created_at"] == T.TimestampType()
    with pytest.raises(TypeError, match="no Spark type"):
        validation._spark_type(complex, ())


def test_valid_records_parse_to_the_contract_values(spark):
    orders = generated_orders(200)
    parsed = rows(validation.parse_orders(records(spark, [o.record()[1] for o in orders])))
    assert [row["error"] for row in parsed] == [None] * 200
    for order, row in zip(orders, parsed, strict=True):
        expected = order.model_dump()
        expected.update(
            order_id=str(order.order_id),
            source=order.source.value,
            payment_method=order.payment_method and order.payment_method.value,
            created_at=order.created_at.replace(tzinfo=None),
        )
        assert {name: row[name] for name in validation.ORDER_COLUMNS} == expected


def test_every_record_the_api_writes_is_checked_in_the_jvm(spark):
    orders = generated_orders(300) + [
        o.model_copy(update={"payment_method": None, "created_at": NOW - timedelta(seconds=1)})
        for o in generated_orders(5, seed=8)
    ]
    checked = validation.check_canonical(records(spark, [o.record()[1] for o in orders]))
    assert checked.where(~F.col("fast")).select("value").collect() == []


def contract_only(records: DataFrame) -> DataFrame:
    """What parse_orders gives when every record goes through the contract in Python."""
    return (
        validation.check_canonical(records)
        .select(*validation.KAFKA_COLUMNS, "timestamp_ms", "order.*", F.lit(False).alias("fast"))
        .mapInPandas(validation._validate_batches, validation.PARSED_SCHEMA)
    )


def edited(record: str, field: str, value: str) -> str:
    """The canonical record with one field's JSON value replaced (value None: the field removed)."""
    body = json.loads(record)
    start = record.index(f'"{field}":') + len(f'"{field}":')
    end = start + len(json.dumps(body[field], separators=(",", ":")))
    return record[:start] + value + record[end:]


EDITS = {
    "order_id": ['"3F2504E0-4F89-41D3-9A0C-0305E82C3301"', '"3f2504e04f8941d39a0c0305e82c3301"', '"not-a-uuid"', "7"],
    "customer_id": ["0", "1", "2147483647", "2147483648", "-1", '"5"', "5.0", "99999999999999999999", "null"],
    "source": ['"dine in"', '"Takeaway"', '"Home Delivery"', '""'],
    "product_id": ['"a b"', '"' + "x" * 64 + '"', '"' + "x" * 65 + '"', '"\\u0061"', '"caf\u00e9"', '""'],
    "quantity": ["0", "1", "10000", "10001", "1.0", "2e0", '"2"'],
    "unit_price": [
        '"0.00"',
        '"0.01"',
        '"99999999.99"',
        '"999999999.99"',
        '"1.999"',
        '"-1.00"',
        "1.5",
        '"1.5"',
        '"1e2"',
    ],
    "currency": ['"usd"', '"EUR"', '"ZZZ"', '"XXX"', '"US"'],
    "payment_method": ["null", '"VISA"', '"other"', '"bitcoin"'],
    "created_at": [
        '"1969-12-31T23:59:59Z"',
        '"1970-01-01T00:00:00Z"',
        '"2026-11-23T10:04:00Z"',
        '"2026-11-23T10:06:00Z"',
        '"2026-02-30T00:00:00Z"',
        '"2026-11-23T10:00:00.1234567Z"',
        '"2026-11-23T10:00:00+00:00"',
        '"2026-11-23 10:00:00Z"',
        '"2026-11-23T09:00:00.5Z"',
        '"2026-11-23T25:00:00Z"',
    ],
    "total": ['"0.00"', '"0.01"', "null", '"99999999999999.99"'],
}


def test_parse_orders_and_the_contract_alone_agree_on_every_edited_record(spark):
    base = generated_orders(1)[0].model_copy(update={"quantity": 3, "unit_price": Decimal("2.50"), "total": None})
    canonical = Order.model_validate(base.model_dump()).record()[1].decode()
    variants = [edited(canonical, field, value) for field, values in EDITS.items() for value in values]
    body = json.loads(canonical)
    for quantity in ("10000", "10001"):  # with a matching total, so only the quantity's own limit can refuse it
        total = f'"{Decimal(body["unit_price"]) * int(quantity)}"'
        variants.append(edited(edited(canonical, "quantity", quantity), "total", total))
    for price in ("0.00", "99999999.99", "-1.00"):
        total = f'"{Decimal(price) * body["quantity"]}"'
        variants.append(edited(edited(canonical, "unit_price", f'"{price}"'), "total", total))
    variants += [
        canonical.replace('":', '": '),  # spaces
        json.dumps(dict(reversed(body.items())), separators=(",", ":")),  # another field order
        canonical[:-1] + ',"coupon":"FREE"}',
        canonical + " ",
        canonical[:-1],
        "{}",  # extra field, trailing, cut
        edited(canonical, "total", '"7.49"'),
        edited(canonical, "total", '"7.50"'),
    ]
    values = [v.encode() for v in variants]

    def by_offset(parsed: DataFrame) -> list[dict]:
        return sorted(rows(parsed), key=lambda row: row["offset"])

    expected = by_offset(contract_only(records(spark, values)))
    parsed = by_offset(validation.parse_orders(records(spark, values)))
    assert parsed == expected
    assert sum(row["error"] is None for row in parsed) >= 15  # valid edits take both ways too, not only refusals


def test_the_jvm_checks_mirror_every_validator_of_the_contract():
    decorators = Order.__pydantic_decorators__
    assert set(decorators.field_validators) | set(decorators.model_validators) == validation.MIRRORED_VALIDATORS


POISON = {
    b"\x00\xff\xfe binary": "body: invalid JSON",
    b'{"customer_id": 7, "source": "Dine In", "quan': "body: invalid JSON",
    b"[1, 2]": "body: Input should be a valid dictionary",
    b'{"customer_id": 7, "source": "Dine In", "quantity": 1} trailing': "body: invalid JSON",
    b'{"customer_id": "7", "source": "Dine In", "quantity": 1}': "customer_id: Input should be a valid integer",
    b'{"customer_id": 7, "source": "Dine In", "quantity": 1e400}': "quantity:",
    b'{"customer_id": 7, "source": "Dine In", "quantity": 100000000000000000000}': "quantity:",
    b'{"customer_id": 7, "source": "Dine In", "quantity": 1, "coupon": "x"}': "coupon: Extra inputs",
    b'{"customer_id": 7, "source": "Dine In", "quantity": 1, "quantity": 9}': "quantity: repeated in one JSON object",
    b'{"customer_id": 7, "source": "Dine In", "quantity": 2, "unit_price": "1.00", "total": "3.00"}': (
        "total: Value error"
    ),
    b'{"customer_id": 0, "source": "Drive In", "quantity": 1}': (
        "customer_id: Input should be greater than or equal to 1; source:"
    ),
    b'{"customer_id": 7, "source": "Dine In", "quantity": 1, "created_at": "1500-01-01T00:00:00Z"}': (
        "created_at: Value error"
    ),
}


def test_poison_records_are_rejected_with_field_and_reason(spark):
    parsed = rows(validation.parse_orders(records(spark, [*POISON, None])))
    reasons = [row["error"] for row in parsed]
    for reason, expected in zip(reasons, [*POISON.values(), "body: invalid JSON"], strict=True):
        assert reason.startswith(expected), reason
    assert all(row["order_id"] is None for row in parsed)


def test_every_way_the_load_generator_breaks_an_order_is_rejected(spark):
    rng, generator = random.Random(3), OrderGenerator(seed=3)
    bodies = []
    for breaker in BREAKERS:
        body = generator.valid_order()
        breaker(body, rng)
        bodies.append(json.dumps(body).encode())
    reasons = [row["error"] for row in rows(validation.parse_orders(records(spark, bodies, datetime.now(UTC))))]
    assert None not in reasons


def test_every_record_carries_its_kafka_timestamp_never_later_than_now_and_its_bytes(spark):
    values = [generated_orders(1)[0].record()[1], b"junk"]
    parsed = rows(validation.parse_orders(records(spark, values, NOW)))
    assert [row["received_at"] for row in parsed] == [NOW.replace(tzinfo=None)] * 2
    assert sorted(bytes(row["value"]) for row in parsed) == sorted(values)  # a valid order may yet be a dead letter
    before = datetime.now(UTC).replace(tzinfo=None)
    ahead = rows(validation.parse_orders(records(spark, values, datetime(3000, 1, 1, tzinfo=UTC))))
    assert all(before <= row["received_at"] <= datetime.now(UTC).replace(tzinfo=None) for row in ahead)


def test_the_future_limit_is_judged_against_the_record_timestamp(spark):
    body = json.dumps(
        {"customer_id": 7, "source": "Dine In", "quantity": 1, "created_at": (NOW + timedelta(minutes=10)).isoformat()}
    ).encode()
    early = rows(validation.parse_orders(records(spark, [body], received_at=NOW)))[0]
    late = rows(validation.parse_orders(records(spark, [body], received_at=NOW + timedelta(minutes=6))))[0]
    assert early["error"].startswith("created_at:")
    assert late["error"] is None


def test_a_producer_clock_far_ahead_neither_stops_the_stream_nor_admits_future_orders(spark):
    ahead = datetime(2999, 1, 1, tzinfo=UTC)
    bodies = [
        json.dumps({"customer_id": 7, "source": "Dine In", "quantity": 1, "created_at": ahead.isoformat()}).encode(),
        b'{"customer_id": 7, "source": "Dine In", "quantity": 1}',
    ]
    future, undated = rows(validation.parse_orders(records(spark, bodies, received_at=ahead)))
    assert future["error"].startswith("created_at:")
    assert undated["error"] is None
    assert undated["created_at"] <= datetime.now(UTC).replace(tzinfo=None)


def test_missing_order_id_and_created_at_are_derived_from_the_record_the_same_way_every_time(spark):
    body = b'{"customer_id": 7, "source": "Takeaway", "quantity": 3}'
    first, again = (rows(validation.parse_orders(records(spark, [body])))[0] for _ in range(2))
    assert (
        first["order_id"] == again["order_id"] == str(uuid.uuid5(validation.DERIVED_ORDER_ID_NAMESPACE, "orders/1/100"))
    )
    assert first["created_at"] == NOW.replace(tzinfo=None)
    assert (first["unit_price"], first["total"], first["product_id"]) == (
        Decimal("300.00"),
        Decimal("900.00"),
        "default",
    )
