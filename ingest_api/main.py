"""The ingest API: validated orders into Kafka, never lost, never a 500.

Usage: make api   (or: uvicorn ingest_api.main:app --host 127.0.0.1 --port 8000)

POST /orders (one order) and POST /orders/batch (a JSON array) answer 202
only after Kafka acknowledged every accepted order (acks=all), 503 with
Retry-After when it did not in time, and 4xx with the field and the reason
for anything wrong with the request. Bodies are read by `json_body` rather
than by FastAPI so that size, media type and JSON each get their own status,
and JSON numbers become Decimals, never floats; the contract
(pipeline/contract.py) says what a valid order and a valid batch are.
"""

import asyncio
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request, Security
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import APIKeyHeader
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from ingest_api.observe import PRODUCED, REJECTED, ObserveRequests, configure_logging
from ingest_api.producer import KafkaUnavailable, OrderProducer
from pipeline.contract import Order, Problem, RepeatedKey, loads, validate, validate_batch
from pipeline.settings import Settings, get_settings

API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="One of the keys in API_KEYS")
ERRORS = {"content": {"application/json": {"example": {"errors": [{"field": "quantity", "reason": "..."}]}}}}
ANSWERS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No X-API-Key header", **ERRORS},
    403: {"description": "Not a valid key", **ERRORS},
    413: {"description": "Body larger than MAX_BODY_BYTES", **ERRORS},
    415: {"description": "Body not application/json", **ERRORS},
    422: {"description": "Invalid JSON or order: the field and the reason", **ERRORS},
    503: {"description": "Kafka did not acknowledge in time: retry after Retry-After seconds, same order_id"},
}


class ApiError(Exception):
    def __init__(self, status: int, field: str, reason: str, headers: dict[str, str] | None = None):
        self.status, self.field, self.reason, self.headers = status, field, reason, headers


def app_settings(request: Request) -> Settings:
    return request.app.state.settings


def require_api_key(request: Request, _: str | None = Security(API_KEY)) -> None:
    """401 without the header, 403 unless it is one of API_KEYS (compared with each, in constant time)."""
    # Read here rather than from the security scheme, which takes an empty header for a missing one.
    given = request.headers.get("x-api-key")
    if given is None:
        raise ApiError(401, "X-API-Key", "header required")
    matched = False
    for key in app_settings(request).api_key_list:  # every key: timing reveals neither key nor position
        matched |= hmac.compare_digest(given.encode(), key.encode())
    if not matched:
        raise ApiError(403, "X-API-Key", "not a valid key")


async def json_body(request: Request, settings: Settings = Depends(app_settings)) -> Any:
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
    except RepeatedKey as error:
        REJECTED.labels("repeated_key").inc()
        raise ApiError(422, error.key, error.reason) from None
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        REJECTED.labels("invalid_json").inc()
        raise ApiError(422, "body", f"invalid JSON: {error}") from None


def counted(result: Order | list[Problem]) -> Order | list[Problem]:
    if not isinstance(result, Order):
        for problem in result:
            REJECTED.labels(problem["type"]).inc()
    return result


async def produce(request: Request, orders: list[Order]) -> None:
    """Returns once Kafka acknowledged every order; else 503 with Retry-After."""
    try:
        await request.app.state.producer.send([order.record() for order in orders])
    except KafkaUnavailable as error:
        retry_after = str(app_settings(request).retry_after_seconds)
        raise ApiError(503, "kafka", f"not available, retry later ({error})", {"Retry-After": retry_after}) from None
    PRODUCED.inc(len(orders))


def accepted(order: Order) -> dict[str, str]:
    return {"order_id": str(order.order_id), "total": str(order.total)}


def body_of(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI's requestBody for a route that reads its body with json_body."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


ORDER = {"$ref": "#/components/schemas/Order"}


async def post_order(request: Request, body: Any = Depends(json_body)) -> JSONResponse:
    """Validate one order and produce it to Kafka; 202 with its order_id and total."""
    result = counted(validate(body))
    if not isinstance(result, Order):
        return JSONResponse({"errors": result}, status_code=422)
    await produce(request, [result])
    return JSONResponse(accepted(result), status_code=202)


async def post_batch(request: Request, body: Any = Depends(json_body)) -> JSONResponse:
    """Validate up to MAX_BATCH_ORDERS orders; produce the valid ones; per-item results."""
    try:
        results = [counted(result) for result in validate_batch(body, app_settings(request).max_batch_orders)]
    except ValueError as error:
        raise ApiError(422, "body", str(error)) from None
    orders = [result for result in results if isinstance(result, Order)]
    if orders:
        await produce(request, orders)
    answer = {
        "accepted": len(orders),
        "rejected": len(results) - len(orders),
        "results": [
            {"index": index, **accepted(result)} if isinstance(result, Order) else {"index": index, "errors": result}
            for index, result in enumerate(results)
        ],
    }
    return JSONResponse(answer, status_code=202 if orders else 422)


async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


async def readyz(request: Request) -> JSONResponse:
    """Kafka answers and the orders topic exists."""
    if await asyncio.to_thread(request.app.state.producer.ready):
        return JSONResponse({"status": "ready"})
    retry_after = str(app_settings(request).retry_after_seconds)
    return JSONResponse({"status": "kafka unavailable"}, status_code=503, headers={"Retry-After": retry_after})


async def metrics() -> PlainTextResponse:
    """Prometheus text format, summed over the API's worker processes (run.sh)."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


async def api_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    body = {"errors": [{"field": error.field, "reason": error.reason}]}
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def create_app(settings: Settings | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging()
        app.state.producer = OrderProducer(app.state.settings)
        yield
        app.state.producer.close()

    app = FastAPI(title="Sales ingest API", version="1", lifespan=lifespan)
    app.state.settings = settings or get_settings()
    app.add_middleware(ObserveRequests)
    app.add_exception_handler(ApiError, api_error)
    batch = {"type": "array", "maxItems": app.state.settings.max_batch_orders, "items": ORDER}
    for path, route, body in (("/orders", post_order, ORDER), ("/orders/batch", post_batch, batch)):
        app.post(
            path,
            status_code=202,
            dependencies=[Depends(require_api_key)],
            responses=ANSWERS,
            openapi_extra=body_of(body),
        )(route)
    app.get("/healthz")(healthz)
    app.get("/readyz")(readyz)
    app.get("/metrics")(metrics)
    app.openapi = lambda: app.openapi_schema or with_order_schema(app)  # type: ignore[method-assign]
    return app


def with_order_schema(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document with the contract's Order among its schemas (the routes read bodies themselves)."""
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
    order = Order.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(order.pop("$defs", {}))
    components["Order"] = order
    app.openapi_schema = schema
    return schema


app = create_app()
