#!/usr/bin/env bash
# What `make test` runs, on the tests' own stack (`python -m pipeline.stack apart
# STATE_DIR=$TEST_STATE_DIR` has started it): the single-node suite, then secure mode's
# tests through external servers (tests/external.sh stops this stack first: they share
# ports), then the cluster's smoke test on a cluster of its own in $STATE_DIR/cluster.
# Usage: tests/all.sh [PYTEST ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
$PY -m pytest "$@"
bash tests/external.sh tests/integration/secure tests/integration/external
$PY -m pipeline.stack apart --fresh TOPOLOGY=cluster STATE_DIR="${STATE_DIR:-var}/cluster" -- $PY -m pytest tests/integration/cluster -m "not chaos"
