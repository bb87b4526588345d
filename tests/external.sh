#!/usr/bin/env bash
# External mode's test bed: "their" servers (Kafka, Cassandra, MySQL, Superset) started
# as a stack of their own in secure mode (TLS and accounts, state in var/external-servers),
# then
# the pipeline with every one of them marked *_EXTERNAL=true (state in var/external):
# its launcher starts only the API, the job and the schema steps, pointed at them.
# Both start from nothing each run. Runs pytest with the arguments given; stops both stacks
# whatever happened.
# Usage: tests/external.sh [PYTEST ARGS...]   (make test-external)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
TOPOLOGY=single SECURE=false $PY -m pipeline.stack down
export SECURE=true SERVERS_STATE_DIR=var/external-servers
# Their CA, which the servers' stack makes in its state folder.
export KAFKA_SSL_CA_FILE=$SERVERS_STATE_DIR/tls/ca.pem CASSANDRA_SSL_CA_FILE=$SERVERS_STATE_DIR/tls/ca.pem \
  MYSQL_SSL_CA_FILE=$SERVERS_STATE_DIR/tls/ca.pem
PIPELINE=(env STATE_DIR=var/external KAFKA_EXTERNAL=true CASSANDRA_EXTERNAL=true MYSQL_EXTERNAL=true SUPERSET_EXTERNAL=true)
trap '"${PIPELINE[@]}" $PY -m pipeline.stack down; STATE_DIR=$SERVERS_STATE_DIR $PY -m pipeline.stack down' EXIT
STATE_DIR=$SERVERS_STATE_DIR $PY -m pipeline.stack renew
"${PIPELINE[@]}" $PY -m pipeline.stack renew
STATE_DIR=$SERVERS_STATE_DIR $PY -m pipeline.stack up kafka cassandra mysql superset
# Their DBA's part: a MySQL admin account for the schema steps, over TLS, not root
# (the grants docs/security.md lists).
export MYSQL_ADMIN_USER=pipeline_admin MYSQL_ADMIN_PASSWORD="$(openssl rand -hex 16)"
STATE_DIR=$SERVERS_STATE_DIR $PY - <<'PYTHON'
import os
from pydantic import SecretStr
from pipeline.clients import mysql_admin
from pipeline.settings import get_settings

settings = get_settings()
account, password, database = os.environ["MYSQL_ADMIN_USER"], os.environ["MYSQL_ADMIN_PASSWORD"], settings.mysql_database
with mysql_admin(settings.model_copy(update={"mysql_admin_user": "root", "mysql_admin_password": SecretStr("")})) as root:
    for statement in (
        "CREATE USER IF NOT EXISTS %(account)s@'%%' IDENTIFIED BY %(password)s REQUIRE SSL",
        "ALTER USER %(account)s@'%%' IDENTIFIED BY %(password)s REQUIRE SSL",
        f"GRANT CREATE, ALTER, INDEX, DROP, REFERENCES, SELECT, INSERT, UPDATE, DELETE ON `{database}`.*"
        " TO %(account)s@'%%' WITH GRANT OPTION",
        "GRANT CREATE USER ON *.* TO %(account)s@'%%'",
        "GRANT SELECT ON mysql.user TO %(account)s@'%%'",
    ):
        root.cursor().execute(statement, {"account": account, "password": password})
print(f"mysql: {account} may create the database, its tables and users, over TLS")
PYTHON
"${PIPELINE[@]}" $PY -m pipeline.stack up
"${PIPELINE[@]}" $PY -m pytest "$@"
