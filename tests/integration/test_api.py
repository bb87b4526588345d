"""The ingest API over real HTTP, against the real Kafka of the local stack."""

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from pipeline.contract import Order
from tests.integration.helpers import OrdersTopic, stack


def full_order(**changes) -> dict:
    return {
        "order_id": str(uuid.uuid4()),
        "customer_id": 42,
        "source": "Home Delivery",
        "product_id": "pizza_margherita",
        "quantity": 3,
        "unit_price": "11.90",
        "currency": "EUR",
        "payment_method": "mastercard",
        "created_at": datetime.now(UTC).isoformat(),
        **changes,
    }


def test_one_order_is_acknowledged_and_is_in_kafka_byte_for_byte(api, settings):
    topic = OrdersTopic(settings)
    body = full_order()
    response = api.post("/orders", json=body)
    assert response.status_code == 202
    assert response.json() == {"order_id": body["order_id"], "total": "35.70"}
    assert topic.since() == [Order.model_validate(body).record()]


def test_a_batch_produces_exactly_its_valid_orders_and_reports_the_rest(api, settings):
    topic = OrdersTopic(settings)
    valid = [full_order(), full_order(quantity=1), full_order(payment_method="cash")]
    batch = [valid[0], {**full_order(), "quantity": 0}, valid[1], {**full_order(), "colour": "red"}, valid[2]]
    response = api.post("/orders/batch", json=batch)
    assert response.status_code == 202
    report = response.json()
    assert (report["accepted"], report["rejected"]) == (3, 2)
    assert [r.get("order_id") for r in report["results"]] == [
        valid[0]["order_id"],
        None,
        valid[1]["order_id"],
        None,
        valid[2]["order_id"],
    ]
    assert report["results"][1]["errors"][0]["field"] == "quantity"
    assert report["results"][3]["errors"][0]["field"] == "colour"
    assert sorted(topic.since()) == sorted(Order.model_validate(o).record() for o in valid)


def test_a_batch_without_a_valid_order_is_422_and_produces_nothing(api, settings):
    topic = OrdersTopic(settings)
    response = api.post("/orders/batch", json=[{"customer_id": 1}, "not an order"])
    assert response.status_code == 422
    assert [r["index"] for r in response.json()["results"]] == [0, 1]
    assert topic.since() == []


def test_a_batch_over_the_limit_is_refused_whole(api, settings):
    response = api.post("/orders/batch", json=[full_order() for _ in range(settings.max_batch_orders + 1)])
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body"


@pytest.mark.parametrize(("headers", "status"), [({}, 401), ({"X-API-Key": "wrong"}, 403), ({"X-API-Key": ""}, 403)])
def test_requests_without_a_valid_key_are_refused_and_produce_nothing(settings, headers, status):
    topic = OrdersTopic(settings)
    response = httpx.post(f"{settings.api_url}/orders", json=full_order(), headers=headers)
    assert response.status_code == status
    assert response.json()["errors"][0]["field"] == "X-API-Key"
    assert topic.since() == []


@pytest.mark.parametrize(
    ("content", "content_type", "status", "field"),
    [
        (b"customer_id=1", "application/x-www-form-urlencoded", 415, "Content-Type"),
        (b'{"customer_id": 1,', "application/json", 422, "body"),
        (b'{"customer_id": 1, "source": "Dine In", "quantity": 1, "quantity": 9}', "application/json", 422, "quantity"),
        (b'[{"customer_id": 1, "customer_id": 2}]', "application/json", 422, "customer_id"),
        (b" " * 1_048_577, "application/json", 413, "body"),
    ],
)
def test_malformed_bodies_get_their_own_status_and_field(api, content, content_type, status, field):
    response = api.post("/orders", content=content, headers={"Content-Type": content_type})
    assert response.status_code == status
    assert response.json()["errors"][0]["field"] == field


def test_health_readiness_metrics_and_docs(api):
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").status_code == 200
    api.post("/orders", json={"customer_id": 1})
    metrics = api.get("/metrics").text
    assert 'ingest_requests_total{route="/orders",status="422"}' in metrics
    assert 'ingest_orders_rejected_total{reason="missing"}' in metrics
    assert "ingest_request_duration_seconds_bucket" in metrics
    assert "ingest_orders_produced_total" in metrics
    schema = api.get("/openapi.json").json()
    assert set(schema["components"]["schemas"]["Order"]["properties"]) == set(Order.model_fields)
    # /docs' "Authorize" and "Try it out": the key's scheme, on both routes that need it, with their answers.
    [(scheme_name, scheme)] = schema["components"]["securitySchemes"].items()
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-API-Key")
    for path in ("/orders", "/orders/batch"):
        operation = schema["paths"][path]["post"]
        assert operation["security"] == [{scheme_name: []}], path
        assert {"202", "401", "403", "413", "415", "422", "503"} <= set(operation["responses"]), path
    assert api.get("/docs").status_code == 200


def test_kafka_down_means_503_with_retry_after_quickly_then_202_once_it_is_back(api, settings):
    stopped = stack("down", "kafka")
    assert stopped.returncode == 0, stopped.stderr
    refused: list[str] = []
    try:
        cases: list[tuple[str, Any]] = [("/orders", full_order()), ("/orders/batch", [full_order(), full_order()])]
        for path, body in cases:
            started = time.monotonic()
            response = api.post(path, json=body)
            assert response.status_code == 503, response.text
            # Refused, not hung: librdkafka reports a timed-out record within a second of KAFKA_DELIVERY_TIMEOUT_MS.
            assert time.monotonic() - started < settings.kafka_delivery_timeout_ms / 1000 + 3
            assert int(response.headers["Retry-After"]) >= 1
            refused += [o["order_id"] for o in (body if isinstance(body, list) else [body])]
        assert api.get("/readyz").status_code == 503
    finally:
        restarted = stack("up", "kafka")
        assert restarted.returncode == 0, restarted.stderr
    topic = OrdersTopic(settings)
    retried = full_order(order_id=refused[0])  # a client retries with the same order_id
    deadline = time.monotonic() + 60
    while (response := api.post("/orders", json=retried)).status_code == 503 and time.monotonic() < deadline:
        time.sleep(float(response.headers["Retry-After"]))
    assert response.status_code == 202
    keys = [key.decode() for key, _ in topic.since()]
    assert keys == [refused[0]]
    assert api.get("/readyz").status_code == 200
