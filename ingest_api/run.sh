#!/usr/bin/env bash
# Runs the ingest API in the foreground: uvicorn (uvloop, httptools) with
# API_WORKERS processes on one socket, each with its own Kafka producer. Their
# Prometheus metrics meet in $STATE_DIR/run/api-metrics (prometheus_client's
# multiprocess mode), emptied at every start so /metrics counts this run only.
# The API logs one JSON line per request itself, so uvicorn's access log is off.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
settings=$(.venv/bin/python -m pipeline.settings API_HOST API_PORT API_WORKERS STATE_DIR) || exit 2
eval "$settings"
export PROMETHEUS_MULTIPROC_DIR="$STATE_DIR/run/api-metrics"
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
exec "$repo/.venv/bin/python" -m uvicorn ingest_api.main:app \
  --host "$API_HOST" --port "$API_PORT" --workers "$API_WORKERS" --no-access-log --log-level warning
