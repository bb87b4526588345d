"""The ingest API: validated orders into Kafka, never lost, never a 500.

Usage: make api   (or: uvicorn ingest_api.main:app --host 127.0.0.1 --port 8000)

POST /orders (one order) and POST /orders/batch (a JSON array) answer 202
only after Kafka acknowledged every accepted order (acks=all), 503 with
Retry-After when it did not in time, and 4xx with the field and the reason
for anything wrong with the request. Bodies are parsed here rather than by
FastAPI so that size, media type, JSON and per-item errors each get their own
status, and JSON numbers become Decimals, never floats.
"""

import asyncio
import hmac
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from pydantic import ValidationError

from ingest_api.observe import PRODUCED, REJECTED, ObserveRequests, configure_logging
from ingest_api.producer import KafkaUnavailable, OrderProducer
from pipeline.contract import Order, loads, problems
from pipeline.settings import Settings, get_settings


class ApiError(Exception):
    def __init__(self, status: int, field: str, reason: str, headers: dict[str, str] | None = None):
        self.status, self.field, self.reason, self.headers = status, field, reason, headers


async def read_json(request: Request, settings: Settings) -> Any:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(415, "Content-Type", "the body must be application/json")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.max_body_bytes:
        raise ApiError(413, "body", f"larger than {settings.max_body_bytes} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > settings.max_body_bytes:
            raise ApiError(413, "body", f"larger than {settings.max_body_bytes} bytes")
    try:
        return loads(body)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        REJECTED.labels("invalid_json").inc()
        raise ApiError(422, "body", f"invalid JSON: {error}") from None


def check_api_key(request: Request, settings: Settings) -> None:
    keys = settings.api_key_list
    given = request.headers.get("x-api-key")
    if given is None:
        raise ApiError(401, "X-API-Key", "header required")
    # Compare with every key, in constant time, so timing reveals neither key nor position.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given.encode(), key.encode())
    if not matched:
        raise ApiError(403, "X-API-Key", "not a valid key")


def validate(item: Any) -> Order | list[dict[str, str]]:
    try:
        return Order.model_validate(item)
    except ValidationError as error:
        found = problems(error)
        for problem in found:
            REJECTED.labels(problem["type"]).inc()
        return found


async def produce(request: Request, orders: list[Order]) -> None:
    try:
        await request.app.state.producer.send([order.record() for order in orders])
    except KafkaUnavailable as error:
        settings = request.app.state.settings
        raise ApiError(
            503, "kafka", f"not available, retry later ({error})", {"Retry-After": str(settings.retry_after_seconds)}
        ) from None
    PRODUCED.inc(len(orders))


def accepted(order: Order) -> dict[str, str]:
    return {"order_id": str(order.order_id), "total": str(order.total)}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        configure_logging()
        app.state.settings = settings
        app.state.producer = OrderProducer(settings)
        yield
        app.state.producer.close()

    app = FastAPI(title="Sales ingest API", version="1", lifespan=lifespan)
    app.add_middleware(ObserveRequests)

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, error: ApiError) -> JSONResponse:
        body = {"errors": [{"field": error.field, "reason": error.reason}]}
        return JSONResponse(body, status_code=error.status, headers=error.headers)

    order_body = {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}},
        }
    }
    batch_body = {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "array",
                        "maxItems": settings.max_batch_orders,
                        "items": {"$ref": "#/components/schemas/Order"},
                    }
                }
            },
        }
    }

    @app.post("/orders", status_code=202, openapi_extra=order_body)
    async def post_order(request: Request) -> JSONResponse:
        """Validate one order and produce it to Kafka; 202 with its order_id and total."""
        check_api_key(request, settings)
        result = validate(await read_json(request, settings))
        if not isinstance(result, Order):
            return JSONResponse({"errors": result}, status_code=422)
        await produce(request, [result])
        return JSONResponse(accepted(result), status_code=202)

    @app.post("/orders/batch", status_code=202, openapi_extra=batch_body)
    async def post_batch(request: Request) -> JSONResponse:
        """Validate up to MAX_BATCH_ORDERS orders; produce the valid ones; per-item results."""
        check_api_key(request, settings)
        items = await read_json(request, settings)
        if not isinstance(items, list) or not items:
            raise ApiError(422, "body", "must be a non-empty JSON array of orders")
        if len(items) > settings.max_batch_orders:
            raise ApiError(422, "body", f"{len(items)} orders; at most {settings.max_batch_orders} per batch")
        results, orders, first_index = [], [], {}
        for index, item in enumerate(items):
            result = validate(item)
            if isinstance(result, Order) and result.order_id in first_index:
                REJECTED.labels("duplicate_order_id").inc()
                result = [
                    {
                        "field": "order_id",
                        "reason": f"same order_id as item {first_index[result.order_id]}",
                        "type": "duplicate_order_id",
                    }
                ]
            if isinstance(result, Order):
                first_index[result.order_id] = index
                orders.append(result)
                results.append({"index": index, **accepted(result)})
            else:
                results.append({"index": index, "errors": result})
        if orders:
            await produce(request, orders)
        body = {"accepted": len(orders), "rejected": len(items) - len(orders), "results": results}
        return JSONResponse(body, status_code=202 if orders else 422)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        """Kafka answers and the orders topic exists."""
        if await asyncio.to_thread(request.app.state.producer.ready):
            return JSONResponse({"status": "ready"})
        return JSONResponse(
            {"status": "kafka unavailable"}, status_code=503, headers={"Retry-After": str(settings.retry_after_seconds)}
        )

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        """Prometheus text format, summed over the API's worker processes (run.sh)."""
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    def openapi() -> dict:
        if not app.openapi_schema:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            order = Order.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(order.pop("$defs", {}))
            components["Order"] = order
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    return app


app = create_app()
