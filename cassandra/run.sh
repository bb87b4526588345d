#!/usr/bin/env bash
# Run one Apache Cassandra 5.0 node in the foreground, built from the Maven
# Central jars of org.apache.cassandra:cassandra-all (no tarball, no Docker): the
# single-node stack's only one, or one of a cluster's, which
# process-compose.cluster.yaml gives its own address (127.0.0.2, ...: the same
# ports on another loopback address) and JMX port. `exec java` keeps the caller's
# pid = the JVM's pid, so SIGTERM to it is a clean shutdown (memtables flushed,
# commitlog closed). Data lives in $STATE_DIR/<process name>.
#
# Settings (read from .env at each start): STATE_DIR CASSANDRA_HOST
# CASSANDRA_SEED_LIST CASSANDRA_PORT CASSANDRA_STORAGE_PORT CASSANDRA_JMX_PORT
# CASSANDRA_HEAP (e.g. 1G); secure mode's CASSANDRA_USERNAME (set: passwords and
# permissions on), CASSANDRA_SSL and TLS_KEYSTORE_PASSWORD (client encryption with the
# key store of pipeline/stack/tls.py). Needs java 17 and the classpath `make setup`
# resolves into cassandra/target/classpath.txt.
# Logs go to stdout/stderr. JMX (for nodetool) listens on 127.0.0.1 only, no
# auth; its RMI objects share the same port instead of a random one.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
settings=$(cd "$HERE/.." && .venv/bin/python -m pipeline.settings STATE_DIR CASSANDRA_HOST CASSANDRA_SEED_LIST \
  CASSANDRA_PORT CASSANDRA_STORAGE_PORT CASSANDRA_JMX_PORT CASSANDRA_HEAP CASSANDRA_USERNAME CASSANDRA_SSL \
  TLS_KEYSTORE_PASSWORD) || exit 2
eval "$settings"
if ! [[ "$CASSANDRA_HEAP" =~ ^[0-9]+[mMgG]$ ]]; then
  echo "cassandra/run.sh: CASSANDRA_HEAP must look like 512M or 1G, got: $CASSANDRA_HEAP" >&2
  exit 2
fi

DIR="$STATE_DIR/${PC_PROC_NAME:-cassandra}"
CP_FILE="$HERE/target/classpath.txt"
[ -s "$CP_FILE" ] || { echo "cassandra/run.sh: $CP_FILE is missing: run \`make setup\`" >&2; exit 1; }
mkdir -p "$DIR/logs" "$DIR/triggers"
CLASSPATH="$(cat "$CP_FILE")"

# jamm measures object sizes (memtable accounting); 5.0 still expects it as agent.
JAMM="$(tr ':' '\n' < "$CP_FILE" | grep -m1 '/jamm-[^/]*\.jar$' || true)"
[ -n "$JAMM" ] || { echo "cassandra/run.sh: jamm jar not found in $CP_FILE" >&2; exit 1; }

# The yaml can't read env vars and the seed list has no system property, so the
# node's own address and the seeds are substituted into a generated copy.
# So are secure mode's authentication and client encryption; the copy holds the key
# store's password, so only its owner reads it.
umask 077
security=()
AUTH=()
if [[ -n $CASSANDRA_USERNAME ]]; then
  security=(-e "s/AllowAllAuthenticator/PasswordAuthenticator/" -e "s/AllowAllAuthorizer/CassandraAuthorizer/")
  # The default superuser at once rather than 10 s after start: `make up` replaces its password.
  AUTH=(-Dcassandra.superuser_setup_delay_ms=0)
fi
sed -e "s/^\(listen_address\|rpc_address\): 127\.0\.0\.1$/\1: ${CASSANDRA_HOST}/" \
  -e "s/seeds: \"127\.0\.0\.1\"/seeds: \"${CASSANDRA_SEED_LIST}\"/" "${security[@]}" \
  "$HERE/cassandra.yaml" > "$DIR/cassandra.yaml"
if [[ $CASSANDRA_SSL == True ]]; then
  cat >> "$DIR/cassandra.yaml" <<YAML
client_encryption_options:
  enabled: true
  optional: false
  keystore: $STATE_DIR/tls/server.p12
  keystore_password: "$TLS_KEYSTORE_PASSWORD"
  store_type: PKCS12
  require_client_auth: false
YAML
fi

# One flag per line; skip comments and blank lines.
mapfile -t OPTS < <(grep -Ev '^[[:space:]]*(#|$)' "$HERE/jvm17.options")

JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
# Cassandra always calls mlockall(); as root (CAP_IPC_LOCK) it succeeds and
# pins the whole heap in RAM at start (RSS ~1.5G with a 1G heap). A dev box
# doesn't need that: drop the capability and keep the memlock limit small, so
# it logs one WARN ("Unable to lock JVM memory") like any non-root user gets.
ulimit -S -l 64 2>/dev/null || true
LAUNCH=()
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  LAUNCH=(setpriv --bounding-set=-ipc_lock --inh-caps=-ipc_lock --)
fi
cd "$DIR"   # keeps stray files (heap dumps, hs_err) out of the repo
exec "${LAUNCH[@]}" "$JAVA" \
  -Xms"$CASSANDRA_HEAP" -Xmx"$CASSANDRA_HEAP" \
  "${OPTS[@]}" \
  -javaagent:"$JAMM" \
  -XX:HeapDumpPath="$DIR" \
  -XX:ErrorFile="$DIR/hs_err_%p.log" \
  -Dcassandra-foreground=yes "${AUTH[@]}" \
  -Dcassandra.config="file://$DIR/cassandra.yaml" \
  -Dcassandra.storagedir="$DIR" \
  -Dcassandra.logdir="$DIR/logs" \
  -Dcassandra.triggers_dir="$DIR/triggers" \
  -Dcassandra.native_transport_port="$CASSANDRA_PORT" \
  -Dcassandra.storage_port="$CASSANDRA_STORAGE_PORT" \
  -Dcassandra.jmx.local.port="$CASSANDRA_JMX_PORT" \
  -Dcom.sun.management.jmxremote.rmi.port="$CASSANDRA_JMX_PORT" \
  -Dlogback.configurationFile="$HERE/logback.xml" \
  -cp "$CLASSPATH" \
  org.apache.cassandra.service.CassandraDaemon
