"""Generated bodies against the real API and Kafka: never a 5xx, every
well-formed order accepted, and Kafka holds exactly one record per 202 and
none for a 4xx.

The strategies derive from the contract (enums, bounds, fields), so a
changed contract changes what is generated.
"""

import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from pipeline.contract import MAX_QUANTITY, Order, PaymentMethod, Source
from tests.integration.helpers import OrdersTopic

EXAMPLES = 2500
BATCH_EXAMPLES = 300

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def valid_orders(draw) -> dict:
    order = {
        "customer_id": draw(st.integers(1, 2**31 - 1)),
        "source": draw(st.sampled_from([s.value for s in Source])),
        "quantity": draw(st.integers(1, MAX_QUANTITY)),
    }
    optional = {
        "order_id": st.builds(lambda: str(uuid.uuid4())),
        "product_id": st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z"),
        "unit_price": st.decimals(Decimal("0.01"), Decimal("99999999.99"), places=2).map(str),
        "currency": st.sampled_from(["USD", "EUR", "GBP", "JPY", "inr"]),
        "payment_method": st.sampled_from([m.value for m in PaymentMethod]),
        "created_at": st.datetimes(
            datetime(2000, 1, 1), datetime.now() - timedelta(minutes=1), timezones=st.just(UTC)
        ).map(datetime.isoformat),
    }
    for field, strategy in optional.items():
        if draw(st.booleans()):
            order[field] = draw(strategy)
    if draw(st.booleans()):
        order["total"] = str(Order.model_validate(order).total)
    return order


@st.composite
def broken_orders(draw) -> object:
    order = draw(valid_orders())
    how = draw(st.sampled_from(["replace", "drop", "extra", "anything"]))
    if how == "replace":
        order[draw(st.sampled_from(sorted(Order.model_fields)))] = draw(json_values)
    elif how == "drop":
        order.pop(draw(st.sampled_from(["customer_id", "source", "quantity"])))
    elif how == "extra":
        order[draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in Order.model_fields))] = draw(json_values)
    else:
        return draw(json_values)
    return order


bodies = st.one_of(
    valid_orders().map(lambda o: ("valid", json.dumps(o).encode())),
    broken_orders().map(lambda o: ("maybe", json.dumps(o).encode())),
    st.binary(max_size=200).map(lambda b: ("maybe", b)),
)
JSON = {"Content-Type": "application/json"}
run = hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def test_single_orders_never_5xx_and_each_202_is_exactly_one_record(api, settings):
    topic, acknowledged, statuses = OrdersTopic(settings), list[str](), Counter[int]()

    @run
    @given(bodies)
    def post(kind_and_body):
        kind, body = kind_and_body
        response = api.post("/orders", content=body, headers=JSON)
        statuses[response.status_code] += 1
        assert response.status_code in (202, 422), response.text
        if kind == "valid":
            assert response.status_code == 202, response.text
        if response.status_code == 202:
            acknowledged.append(response.json()["order_id"])
        else:
            assert response.json()["errors"][0]["reason"]

    post()
    records = topic.since()
    assert Counter(key.decode() for key, _ in records) == Counter(acknowledged)
    assert all(Order.model_validate_json(value) for _, value in records)
    assert statuses[202] > EXAMPLES // 4, statuses
    assert statuses[422] > EXAMPLES // 4, statuses


def test_batches_produce_exactly_their_accepted_items(api, settings):
    topic, acknowledged = OrdersTopic(settings), list[str]()

    @hypothesis_settings(run, max_examples=BATCH_EXAMPLES)
    @given(
        st.lists(
            st.one_of(valid_orders().map(lambda o: ("valid", o)), broken_orders().map(lambda o: ("maybe", o))),
            min_size=1,
            max_size=20,
        )
    )
    def post(items):
        response = api.post("/orders/batch", content=json.dumps([item for _, item in items]).encode(), headers=JSON)
        assert response.status_code in (202, 422), response.text
        results = response.json()["results"]
        assert [r["index"] for r in results] == list(range(len(items)))
        for (kind, _), result in zip(items, results, strict=True):
            assert kind != "valid" or "order_id" in result, result
        acknowledged.extend(r["order_id"] for r in results if "order_id" in r)

    post()
    assert Counter(key.decode() for key, _ in topic.since()) == Counter(acknowledged)
