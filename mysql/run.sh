#!/usr/bin/env bash
# Runs MariaDB in the foreground (process-compose supervises it) with its data in
# $STATE_DIR/mysql. The data directory is initialised on first start.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
settings=$(cd "$here/.." && .venv/bin/python -m pipeline.settings STATE_DIR MYSQL_HOST MYSQL_PORT MYSQL_SSL) || exit 2
eval "$settings"
# mariadbd lives in /usr/sbin, which a non-root PATH often lacks.
export PATH="$PATH:/usr/sbin"
dir="$STATE_DIR/mysql"
user=$(id -un)
mkdir -p "$dir"

if [ ! -d "$dir/data" ]; then
  # Initialise aside and rename, so an interrupted first start is simply redone.
  # root authenticates over the unix socket as the OS user that runs the stack;
  # the pipeline's own users get passwords from .env (see users.sql).
  rm -rf "$dir/data.init"
  mariadb-install-db --no-defaults --datadir="$dir/data.init" --user="$user" \
    --auth-root-authentication-method=socket --auth-root-socket-user="$user" --skip-test-db
  mv "$dir/data.init" "$dir/data"
fi

# Secure mode: TCP clients must use TLS, with the certificate of pipeline/stack/tls.py.
tls=()
if [[ $MYSQL_SSL == True ]]; then
  tls=(--ssl-ca="$STATE_DIR/tls/ca.pem" --ssl-cert="$STATE_DIR/tls/server.pem" --ssl-key="$STATE_DIR/tls/server.key"
       --require-secure-transport=ON)
fi

exec mariadbd --defaults-file="$here/my.cnf" --user="$user" --datadir="$dir/data" \
  --socket="$dir/mysqld.sock" --pid-file="$dir/mysqld.pid" \
  --bind-address="$MYSQL_HOST" --port="$MYSQL_PORT" "${tls[@]}"
