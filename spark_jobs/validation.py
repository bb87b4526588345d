"""Orders from Kafka records, checked against the order contract: the stream's validation.

`parse_orders(records)` turns Kafka source rows into the contract's columns
plus `error` (null when valid). The Spark schema, a regular expression for
the JSON the API writes and a check for every rule are all derived from
pipeline/contract.py, so the stream accepts exactly what the API accepts:
records exactly as the API writes them are parsed and checked in the JVM;
any other record goes through the pydantic model itself in Python, which
gives the reason for what it refuses. tests/unit/test_validation.py holds the
two ways equal.
"""

import functools
import re
import types
import typing
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import pandas as pd
from pydantic import AwareDatetime, ValidationError
from pydantic_extra_types.currency_code import ISO4217
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipeline.contract import MAX_FUTURE_SKEW, MIN_CREATED_AT, Order, RepeatedKey, loads, problems

# Records without an order_id get uuid5(namespace, "topic/partition/offset"):
# the same id every time the record is read, so a replay rewrites one row.
DERIVED_ORDER_ID_NAMESPACE = uuid.UUID("5b0d6f0e-8a43-4a4e-9a64-2f6f3f1a7c11")
POSITION_COLUMNS = ["topic", "partition", "offset"]
KAFKA_COLUMNS = ["key", "value", *POSITION_COLUMNS]


def _unwrap(annotation: object, constraints: tuple = ()) -> tuple[object, tuple, bool]:
    """A contract field's type as (base type, its constraints, whether null is allowed)."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):  # Optional[X]
        base, found, _ = _unwrap(next(arg for arg in args if arg is not type(None)), constraints)
        return base, found, True
    if typing.get_origin(annotation) is typing.Annotated:
        return _unwrap(args[0], constraints + tuple(m for info in args[1:] for m in info.metadata))
    return annotation, constraints, False


def _limit(constraints: tuple, name: str) -> Any:
    return next((getattr(c, name) for c in constraints if getattr(c, name, None) is not None), None)


def _spark_type(base: object, constraints: tuple) -> T.DataType:
    """The Spark type of one contract field, from its Python type and constraints."""
    if base is int:
        return T.IntegerType() if (_limit(constraints, "le") or 2**63) < 2**31 else T.LongType()
    if base is Decimal:
        return T.DecimalType(_limit(constraints, "max_digits"), _limit(constraints, "decimal_places"))
    if base in (datetime, AwareDatetime):
        return T.TimestampType()
    if isinstance(base, type) and issubclass(base, (str, Enum, uuid.UUID)):
        return T.StringType()
    raise TypeError(f"no Spark type for contract type {base!r}: add it to _spark_type")


def _json_pattern(base: object, constraints: tuple, nullable: bool) -> str:
    """The regular expression of a field's value as Order.model_dump_json() writes it (see parse_orders)."""
    if nullable:
        return f"(?:null|{_json_pattern(base, constraints, False)})"
    if base is int:
        return "-?[0-9]{1,19}"
    if base is Decimal:
        places = _limit(constraints, "decimal_places")
        return f'"-?[0-9]{{1,{_limit(constraints, "max_digits") - places}}}\\.[0-9]{{{places}}}"'
    if base in (datetime, AwareDatetime):  # UTC, which the contract converts every created_at to
        return '"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\\.[0-9]{1,6})?Z"'
    if base is uuid.UUID:
        return '"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"'
    if base is ISO4217:
        return f'"(?:{"|".join(sorted(ISO4217.allowed_currencies))})"'
    if isinstance(base, type) and issubclass(base, Enum):
        return f'"(?:{"|".join(re.escape(member.value) for member in base)})"'
    pattern = _limit(constraints, "pattern")
    if base is str and pattern and not set(pattern) & set('"\\'):  # nothing JSON would escape
        return f'"{pattern.removeprefix("^").removesuffix("$")}"'
    raise TypeError(f"no JSON pattern for contract type {base!r}: add it to _json_pattern")


def _bounds(column: Column, constraints: tuple) -> list[Column]:
    """The field's ge, gt and le constraints as Spark conditions."""
    checks = {"ge": column.__ge__, "gt": column.__gt__, "le": column.__le__}
    return [check(_limit(constraints, name)) for name, check in checks.items() if _limit(constraints, name) is not None]


FIELDS = {name: _unwrap(field.annotation, tuple(field.metadata)) for name, field in Order.model_fields.items()}
ORDER_SCHEMA = T.StructType(
    [T.StructField(name, _spark_type(base, found)) for name, (base, found, _) in FIELDS.items()]
)
ORDER_COLUMNS = ORDER_SCHEMA.fieldNames()
PARSED_SCHEMA = T.StructType(
    [
        T.StructField("key", T.BinaryType()),
        T.StructField("value", T.BinaryType()),
        T.StructField("topic", T.StringType()),
        T.StructField("partition", T.IntegerType()),
        T.StructField("offset", T.LongType()),
        *ORDER_SCHEMA.fields,
        T.StructField("error", T.StringType()),
        # The record's Kafka timestamp (when the API produced it), never later than now: when an
        # order_id was first seen, for IDEMPOTENCY_HORIZON; the same on every replay.
        T.StructField("received_at", T.TimestampType()),
    ]
)
# A record exactly as the API writes it (Order.record(): model_dump_json, fields in
# order, no spaces, money as strings, created_at in UTC).
CANONICAL_RECORD = "^\\{" + ",".join(f'"{name}":{_json_pattern(*typ)}' for name, typ in FIELDS.items()) + "\\}$"


def validate_record(
    value: bytes | None, topic: str, partition: int, offset: int, received_at: datetime
) -> tuple[Order | None, str | None]:
    """One Kafka record against the contract: (order, None) or (None, why not)."""
    try:
        order = Order.model_validate(loads(value or b""), context={"received_at": received_at})
    except ValidationError as error:
        return None, "; ".join(f"{p['field']}: {p['reason']}" for p in problems(error))
    except RepeatedKey as error:
        return None, str(error)
    except (ValueError, RecursionError) as error:
        return None, f"body: invalid JSON: {error}"
    # The API fills these two with fresh values; here they must come out the same on every replay.
    if "order_id" not in order.model_fields_set:
        order.order_id = uuid.uuid5(DERIVED_ORDER_ID_NAMESPACE, f"{topic}/{partition}/{offset}")
    if "created_at" not in order.model_fields_set:
        order.created_at = received_at
    return order, None


def _column(values: list, data_type: T.DataType) -> object:
    """Python values as the pandas column Arrow converts to data_type (nulls kept)."""
    if isinstance(data_type, T.IntegerType):
        return pd.array(values, dtype="Int32")
    if isinstance(data_type, T.TimestampType):
        return pd.to_datetime(values, utc=True)
    return pd.Series(
        [
            None if v is None else v.value if isinstance(v, Enum) else str(v) if isinstance(v, uuid.UUID) else v
            for v in values
        ],
        dtype=object,
    )


def received_at(timestamp_ms: int, now: datetime) -> datetime:
    """A record's Kafka timestamp as the time it arrived, never later than now.

    Producers set that timestamp; a wrong clock must not let an order through
    (or break the conversion) with a created_at far in the future.
    """
    return datetime.fromtimestamp(min(max(timestamp_ms, 0), now.timestamp() * 1000) / 1000, UTC)


def _validate_batches(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Rows the JVM passed keep its values; every other row goes through the contract here.

    The JVM judged created_at against the record's Kafka timestamp; a record stamped
    later than now (a producer's clock ahead) is judged here instead, against now.
    Every row keeps its key and value bytes: a valid order can still turn out to
    reuse an order_id with different content, a dead letter with those bytes.
    """
    for records in batches:
        now = datetime.now(UTC)
        fast = (
            records["fast"].fillna(False).astype(bool) & (records["timestamp_ms"] <= now.timestamp() * 1000)
        ).tolist()
        now_ms = int(now.timestamp() * 1000)
        received = pd.to_datetime(records["timestamp_ms"].clip(0, now_ms), unit="ms", utc=True)
        if all(fast):
            yield records[KAFKA_COLUMNS + ORDER_COLUMNS].assign(error=None, received_at=received)
            continue
        results = {
            row: validate_record(value, topic, int(partition), int(offset), received_at(int(timestamp_ms), now))
            for row, (value, topic, partition, offset, timestamp_ms) in enumerate(
                zip(
                    records["value"],
                    records["topic"],
                    records["partition"],
                    records["offset"],
                    records["timestamp_ms"],
                    strict=True,
                )
            )
            if not fast[row]
        }
        columns = {
            field.name: _column(
                [
                    jvm if row not in results else getattr(results[row][0], field.name) if results[row][0] else None
                    for row, jvm in enumerate(records[field.name].tolist())
                ],
                field.dataType,
            )
            for field in ORDER_SCHEMA.fields
        }
        errors = [results[row][1] if row in results else None for row in range(len(records))]
        yield records[KAFKA_COLUMNS].assign(**columns, error=errors, received_at=received)


# Order's validators, each mirrored in _canonical_and_valid: cents by the
# pattern, RFC 3339 text by the pattern, the created_at range and the total by
# explicit checks, the computed total by requiring it in the record.
MIRRORED_VALIDATORS = frozenset(
    {"_to_cents", "_rfc3339_text", "_within_range", "_matches_quantity_times_price", "_compute_total"}
)


def _canonical_and_valid(record: Column, order: Column, received: Column) -> Column:
    """True when the record is canonical and its values pass every rule of the contract, in the JVM.

    The rules mirror Order's: the field constraints, derived from the contract;
    total = quantity x unit_price; created_at from 1970 to MAX_FUTURE_SKEW past
    the record's Kafka timestamp (_validate_batches sends a timestamp later than
    now to the contract). tests/unit/test_stream_transforms.py checks
    that parse_orders and the contract alone agree on every record, and fails
    when Order gains a validator not in MIRRORED_VALIDATORS.
    """
    checks = [record.rlike(CANONICAL_RECORD), order.isNotNull()]
    for name, (_, constraints, nullable) in FIELDS.items():
        checks += ([] if nullable else [order[name].isNotNull()]) + _bounds(order[name], constraints)
    checks += [
        order["total"] == order["quantity"] * order["unit_price"],
        order["created_at"] >= F.lit(MIN_CREATED_AT),
        order["created_at"] <= received + F.expr(f"INTERVAL {int(MAX_FUTURE_SKEW.total_seconds())} SECONDS"),
    ]
    return F.coalesce(functools.reduce(Column.__and__, checks), F.lit(False))


def check_canonical(records: DataFrame) -> DataFrame:
    """Kafka records -> their key, value, position and timestamp_ms, the JVM's parse as `order`, and `fast`:
    true when the record is exactly as the API writes it and passes every rule."""
    # The timestamp crosses into Python as epoch milliseconds: as a timestamp, a bogus
    # producer clock (year 3000) would overflow pandas and stop the job.
    timestamp_ms = F.unix_millis("timestamp").alias("timestamp_ms")
    # No current_timestamp() here: a streaming query inlines it as each batch's literal, and a
    # new literal means new generated code (compiled, then JIT-compiled) every batch.
    received = F.greatest("timestamp", F.lit(MIN_CREATED_AT))
    text = F.col("value").cast("string")
    # explode() of a one-item array is a barrier in the plan: the ~30 checks and
    # columns that use the parse cannot inline it, parsing the JSON again each.
    parsed_once = F.explode(F.array(F.from_json(text, ORDER_SCHEMA))).alias("order")
    return records.select(*KAFKA_COLUMNS, "timestamp", parsed_once).select(
        *KAFKA_COLUMNS, timestamp_ms, "order", _canonical_and_valid(text, F.col("order"), received).alias("fast")
    )


def parse_orders(records: DataFrame) -> DataFrame:
    """Kafka records -> their key, value and position, the contract's columns, `error` (null when
    valid) and `received_at`.

    Records exactly as the API writes them are parsed and checked in the JVM;
    any other record (hand-written JSON, another field order, a rule broken)
    goes through the contract itself in Python, which accepts what it accepts
    and gives the reason for what it refuses. Both ways give the same values.
    """
    return (
        check_canonical(records)
        .select(*KAFKA_COLUMNS, "timestamp_ms", "fast", "order.*")
        .mapInPandas(_validate_batches, PARSED_SCHEMA)
    )
