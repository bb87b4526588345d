#!/usr/bin/env bash
# Runs Superset in the foreground from its own virtualenv (superset/.venv,
# `make setup`): prepare.py migrates the metadata database and creates or
# updates the admin from .env, then gunicorn serves the app on
# SUPERSET_HOST:SUPERSET_PORT. Times are UTC, like the windows in MySQL.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# Its settings, read from .env at each start, secrets included; in the Superset
# image, where the pipeline's Python is absent, compose gives them from .env.
if [[ -x "$here/../.venv/bin/python" ]]; then
  settings=$(cd "$here/.." && .venv/bin/python -m pipeline.settings SUPERSET_HOST SUPERSET_PORT SUPERSET_THREADS \
    STATE_DIR SUPERSET_ADMIN_USER SUPERSET_SECRET_KEY SUPERSET_ADMIN_PASSWORD) || exit 2
  eval "$settings"
fi
: "${SUPERSET_HOST:?}" "${SUPERSET_PORT:?}" "${SUPERSET_THREADS:?}" "${STATE_DIR:?}" "${SUPERSET_ADMIN_USER:?}"
: "${SUPERSET_SECRET_KEY:?}" "${SUPERSET_ADMIN_PASSWORD:?}"
venv="$here/.venv"
[[ -x "$venv/bin/gunicorn" ]] || { echo "superset/run.sh: no $venv: run \`make setup\`" >&2; exit 1; }

export SUPERSET_HOME="$STATE_DIR/superset" SUPERSET_CONFIG_PATH="$here/superset_config.py" FLASK_APP=superset TZ=UTC
mkdir -p "$SUPERSET_HOME"
# Not the repo: its superset/ folder must not shadow the superset package.
cd "$SUPERSET_HOME"
"$venv/bin/python" "$here/prepare.py"
exec "$venv/bin/gunicorn" --bind "$SUPERSET_HOST:$SUPERSET_PORT" \
  --workers 1 --worker-class gthread --threads "$SUPERSET_THREADS" --timeout 120 \
  --limit-request-line 0 --limit-request-field_size 0 \
  "superset.app:create_app()"
