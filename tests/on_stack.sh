#!/usr/bin/env bash
# Runs tests on another stack than the default one: stops the single-node stack (they
# share ports), starts the one the assignment names (TOPOLOGY=cluster, SECURE=true),
# runs pytest with the arguments given, and stops that stack whatever happened.
# Usage: tests/on_stack.sh NAME=VALUE [PYTEST ARGS...]
#   make test-cluster, make chaos-cluster: TOPOLOGY=cluster tests/integration/cluster ...
#   make test-secure:                      SECURE=true tests/integration/secure ...
set -euo pipefail
cd "$(dirname "$0")/.."
TOPOLOGY=single SECURE=false .venv/bin/python -m pipeline.stack down
export "$1"
shift
trap '.venv/bin/python -m pipeline.stack down' EXIT
.venv/bin/python -m pipeline.stack up
.venv/bin/python -m pytest "$@"
