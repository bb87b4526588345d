"""The order contract: what a client POSTs, defined once.

The API validates with `Order`; the Kafka record is `Order.record()`; the
Spark schema, the Cassandra and MySQL columns, the load generator and the
tests derive from these fields (tests/unit/test_contract_drift.py fails when
a schema file drifts from them). Money is Decimal, never float.
"""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated
from uuid import UUID, uuid4

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_extra_types.currency_code import ISO4217

from pipeline.settings import get_contract_settings

CENT = Decimal("0.01")
# What is wrong with an order: the field path, the reason, and pydantic's error type.
Problem = dict[str, str]
MAX_FUTURE_SKEW = timedelta(minutes=5)
# Earliest created_at: the Unix epoch, where Kafka timestamps and the stream's windows begin
# (and well inside the range of pandas, which the stream converts through).
MIN_CREATED_AT = datetime(1970, 1, 1, tzinfo=UTC)
MAX_QUANTITY = 10_000
PRODUCT_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class Source(StrEnum):
    DINE_IN = "Dine In"
    TAKEAWAY = "Takeaway"
    HOME_DELIVERY = "Home Delivery"


class PaymentMethod(StrEnum):
    VISA = "visa"
    MASTERCARD = "mastercard"
    AMEX = "amex"
    CASH = "cash"
    OTHER = "other"


# Up to 99 999 999.99 a unit, so a total (x 10 000) fits DECIMAL(14,2).
UnitPrice = Annotated[Decimal, Field(gt=0, max_digits=10, decimal_places=2, allow_inf_nan=False)]
Total = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2, allow_inf_nan=False)]


def _default_unit_price() -> Decimal:
    return get_contract_settings().default_unit_price


def _now() -> datetime:
    return datetime.now(UTC)


class Order(BaseModel):
    """One order as a client sends it; absent optional fields get their defaults."""

    model_config = ConfigDict(extra="forbid")

    order_id: UUID = Field(default_factory=uuid4, description="Idempotency key and Kafka key; assigned if absent.")
    customer_id: StrictInt = Field(ge=1, le=2**31 - 1)
    source: Source
    product_id: str = Field("default", pattern=PRODUCT_ID_PATTERN)
    quantity: StrictInt = Field(ge=1, le=MAX_QUANTITY)
    unit_price: UnitPrice = Field(default_factory=_default_unit_price)
    currency: ISO4217 = ISO4217("USD")
    payment_method: PaymentMethod | None = None
    created_at: AwareDatetime = Field(default_factory=_now, description="RFC 3339 with offset; server time if absent.")
    total: Total | None = Field(None, description="quantity x unit_price; if sent, it must equal that.")

    @field_validator("unit_price")
    @classmethod
    def _to_cents(cls, price: Decimal) -> Decimal:
        return price.quantize(CENT)

    @field_validator("created_at", mode="before")
    @classmethod
    def _rfc3339_text(cls, created_at: object) -> object:
        # Pydantic would also read a bare number as Unix seconds; the contract says RFC 3339.
        if not isinstance(created_at, (str, datetime)):
            raise ValueError("must be an RFC 3339 timestamp string")
        return created_at

    @field_validator("created_at")
    @classmethod
    def _within_range(cls, created_at: datetime, info: ValidationInfo) -> datetime:
        if created_at < MIN_CREATED_AT:
            raise ValueError(f"must not be before {MIN_CREATED_AT:%Y-%m-%dT%H:%M:%SZ}")
        # The stream passes the Kafka record's timestamp as received_at, so a
        # replayed record gets the same verdict as the first time.
        received_at = (info.context or {}).get("received_at") or _now()
        if created_at - received_at > MAX_FUTURE_SKEW:
            raise ValueError(f"must not be more than {MAX_FUTURE_SKEW.seconds // 60} minutes in the future")
        return created_at.astimezone(UTC)

    @field_validator("total")
    @classmethod
    def _matches_quantity_times_price(cls, total: Decimal | None, info: ValidationInfo) -> Decimal | None:
        quantity, price = info.data.get("quantity"), info.data.get("unit_price")
        if total is not None and quantity is not None and price is not None and total != quantity * price:
            raise ValueError(f"must equal quantity x unit_price = {(quantity * price).quantize(CENT)}")
        return total

    @model_validator(mode="after")
    def _compute_total(self) -> "Order":
        self.total = (self.quantity * self.unit_price).quantize(CENT)
        return self

    def record(self) -> tuple[bytes, bytes]:
        """The Kafka message: key = order_id, value = the order as JSON (money as strings)."""
        return str(self.order_id).encode(), self.model_dump_json().encode()


def _no_constants(name: str) -> object:
    raise ValueError(f"{name} is not a number")


class RepeatedKey(ValueError):
    """A JSON object names one key twice: which of its values was meant cannot be known."""

    reason = "repeated in one JSON object: send each field once"

    def __init__(self, key: str):
        super().__init__(f"{key}: {self.reason}")
        self.key = key


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    unique: dict[str, object] = {}
    for key, value in pairs:
        if key in unique:
            raise RepeatedKey(key)
        unique[key] = value
    return unique


def loads(body: bytes | bytearray | str) -> object:
    """JSON as the contract reads it: numbers with a fraction become Decimal, NaN and Infinity are refused,
    and so is an object with a repeated key (RepeatedKey), which json.loads would read as its last value.

    Raises ValueError (bad UTF-8 included) or RecursionError for what is not JSON.
    """
    return json.loads(body, parse_float=Decimal, parse_constant=_no_constants, object_pairs_hook=_unique_keys)


def problems(error: ValidationError) -> list[Problem]:
    """Validation errors as the pipeline reports them: the field path and the reason."""
    return [
        {"field": ".".join(map(str, e["loc"])) or "body", "reason": e["msg"], "type": e["type"]}
        for e in error.errors(include_url=False, include_input=False, include_context=False)
    ]


def validate(item: object) -> Order | list[Problem]:
    """One item as the contract reads it: the Order, or what is wrong with it."""
    try:
        return Order.model_validate(item)
    except ValidationError as error:
        return problems(error)


def validate_batch(items: object, max_orders: int) -> list[Order | list[Problem]]:
    """A batch: each item's Order or problems, in order. An order_id that repeats an earlier
    item's is refused: one request must not hold two versions of an order.

    Raises ValueError when the body is not a non-empty array of at most max_orders items.
    """
    if not isinstance(items, list) or not items:
        raise ValueError("must be a non-empty JSON array of orders")
    if len(items) > max_orders:
        raise ValueError(f"{len(items)} orders; at most {max_orders} per batch")
    results: list[Order | list[Problem]] = []
    first_index: dict[UUID, int] = {}
    for index, item in enumerate(items):
        result = validate(item)
        if isinstance(result, Order):
            if result.order_id in first_index:
                reason = f"same order_id as item {first_index[result.order_id]}"
                result = [{"field": "order_id", "reason": reason, "type": "duplicate_order_id"}]
            else:
                first_index[result.order_id] = index
        results.append(result)
    return results
