"""Prometheus metrics and one structured log line per request (never an order body)."""

import json
import logging
import time

from prometheus_client import Counter, Histogram

REQUESTS = Counter("ingest_requests_total", "HTTP requests by route and status.", ["route", "status"])
LATENCY = Histogram(
    "ingest_request_duration_seconds",
    "Request latency by route.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
PRODUCED = Counter("ingest_orders_produced_total", "Orders acknowledged by Kafka.")
REJECTED = Counter("ingest_orders_rejected_total", "Orders rejected, by reason.", ["reason"])

log = logging.getLogger("ingest_api")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {"ts": self.formatTime(record), "level": record.levelname, "msg": record.getMessage()}
        return json.dumps(fields | getattr(record, "fields", {}))


def configure_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines())
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False


class ObserveRequests:
    """ASGI middleware: counts, times and logs every HTTP request by its route template."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), 500

        async def send_and_note_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or ("unmatched" if status == 404 else scope["path"])
            REQUESTS.labels(route, str(status)).inc()
            LATENCY.labels(route).observe(seconds)
            log.info(
                "request",
                extra={
                    "fields": {
                        "method": scope["method"],
                        "route": route,
                        "status": status,
                        "ms": round(seconds * 1000, 2),
                    }
                },
            )
