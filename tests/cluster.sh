#!/usr/bin/env bash
# Runs the cluster topology's tests: stops the single-node stack (they share ports),
# starts the cluster (TOPOLOGY=cluster), runs pytest on tests/integration/cluster
# with the arguments given, and stops the cluster whatever happened.
# Usage: tests/cluster.sh [PYTEST ARGS...]   (make test-cluster, make chaos-cluster)
set -euo pipefail
cd "$(dirname "$0")/.."
TOPOLOGY=single .venv/bin/python -m pipeline.stack down
export TOPOLOGY=cluster
trap '.venv/bin/python -m pipeline.stack down' EXIT
.venv/bin/python -m pipeline.stack up
.venv/bin/python -m pytest tests/integration/cluster "$@"
