#!/usr/bin/env bash
# Runs the ingest API in the foreground: one uvicorn process (uvloop, httptools).
# The API logs one JSON line per request itself, so uvicorn's access log is off.
set -euo pipefail
: "${API_HOST:?API_HOST is not set}" "${API_PORT:?API_PORT is not set}"
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
exec "$repo/.venv/bin/python" -m uvicorn ingest_api.main:app \
  --host "$API_HOST" --port "$API_PORT" --no-access-log --log-level warning
