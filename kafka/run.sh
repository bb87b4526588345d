#!/usr/bin/env bash
# Runs one KRaft Kafka node (broker and controller) in the foreground (exec: this
# pid becomes the JVM's, so SIGTERM to it is a clean Kafka shutdown): the only node
# of the single-node stack, or one of a cluster's, which process-compose.cluster.yaml
# gives its own KAFKA_NODE_ID and ports. Jars come from Maven Central via
# kafka/pom.xml; data lives in $STATE_DIR/<process name>. Settings (read from .env at
# each start): STATE_DIR, KAFKA_NODE_ID, KAFKA_HOST, KAFKA_PORT, KAFKA_CONTROLLER_PORT,
# KAFKA_VOTERS, KAFKA_REPLICATION_FACTOR, KAFKA_MIN_INSYNC_REPLICAS, KAFKA_HEAP, and
# secure mode's KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_MECHANISM, KAFKA_USERNAME,
# KAFKA_PASSWORD, KAFKA_ADMIN_USERNAME, KAFKA_ADMIN_PASSWORD, TLS_KEYSTORE_PASSWORD
# (the key store: pipeline/stack/tls.py).
# Secrets go to the node's own files (mode 600), never to a command's arguments.
set -euo pipefail
umask 077

HERE="$(cd "$(dirname "$0")" && pwd)"
settings=$(cd "$HERE/.." && .venv/bin/python -m pipeline.settings STATE_DIR KAFKA_NODE_ID KAFKA_HOST KAFKA_PORT \
  KAFKA_CONTROLLER_PORT KAFKA_VOTERS KAFKA_REPLICATION_FACTOR KAFKA_MIN_INSYNC_REPLICAS KAFKA_HEAP \
  KAFKA_SECURITY_PROTOCOL KAFKA_SASL_MECHANISM KAFKA_USERNAME KAFKA_PASSWORD KAFKA_ADMIN_USERNAME KAFKA_ADMIN_PASSWORD \
  TLS_KEYSTORE_PASSWORD) || exit 2
eval "$settings"

KDIR="$STATE_DIR/${PC_PROC_NAME:-kafka}"
DATA="$KDIR/data"
CP_FILE="$HERE/target/classpath.txt"  # resolved by `make setup`
CONF="$KDIR/server.properties"
mkdir -p "$DATA"

[[ -s "$CP_FILE" ]] || { echo "kafka/run.sh: $CP_FILE is missing: run \`make setup\`" >&2; exit 1; }
CP="$(<"$CP_FILE")"

# Effective config: fill the template's @NAME@ placeholders (quoted replacement so a
# '&' in a path stays literal under bash 5.2).
conf="$(<"$HERE/server.properties")"
for v in KDIR KAFKA_NODE_ID KAFKA_HOST KAFKA_PORT KAFKA_CONTROLLER_PORT KAFKA_VOTERS KAFKA_REPLICATION_FACTOR \
         KAFKA_MIN_INSYNC_REPLICAS KAFKA_SECURITY_PROTOCOL; do
  conf="${conf//@$v@/"${!v}"}"
done
# Generated passwords are URL-safe; a hand-set one may hold quotes or backslashes.
jaas_quoted() { local value=${1//\\/\\\\}; printf '"%s"' "${value//\"/\\\"}"; }
if [[ $KAFKA_SECURITY_PROTOCOL != PLAINTEXT ]]; then
  conf+=$'\n'"ssl.keystore.type=PKCS12"
  conf+=$'\n'"ssl.keystore.location=$STATE_DIR/tls/server.p12"
  conf+=$'\n'"ssl.keystore.password=$TLS_KEYSTORE_PASSWORD"
  # Brokers are each other's clients: they trust the same CA.
  conf+=$'\n'"ssl.truststore.type=PEM"
  conf+=$'\n'"ssl.truststore.location=$STATE_DIR/tls/ca.pem"
fi
if [[ $KAFKA_SECURITY_PROTOCOL == SASL_SSL ]]; then
  # Brokers authenticate to each other with the admin's account (else the pipeline's); PLAIN
  # lists the users here, SCRAM keeps them in the metadata log (made at format, below).
  broker_user=${KAFKA_ADMIN_USERNAME:-$KAFKA_USERNAME} broker_password=${KAFKA_ADMIN_PASSWORD}
  [[ -n $KAFKA_ADMIN_USERNAME ]] || broker_password=$KAFKA_PASSWORD
  mechanism=${KAFKA_SASL_MECHANISM,,}
  module=scram.ScramLoginModule users=""
  if [[ $mechanism == plain ]]; then
    module=plain.PlainLoginModule users=" user_$KAFKA_USERNAME=$(jaas_quoted "$KAFKA_PASSWORD")"
    [[ -z $KAFKA_ADMIN_USERNAME ]] || users+=" user_$KAFKA_ADMIN_USERNAME=$(jaas_quoted "$KAFKA_ADMIN_PASSWORD")"
  fi
  conf+=$'\n'"sasl.enabled.mechanisms=$KAFKA_SASL_MECHANISM"
  conf+=$'\n'"sasl.mechanism.inter.broker.protocol=$KAFKA_SASL_MECHANISM"
  conf+=$'\n'"listener.name.client.$mechanism.sasl.jaas.config=org.apache.kafka.common.security.$module required"
  conf+=" username=$(jaas_quoted "$broker_user") password=$(jaas_quoted "$broker_password")$users;"
  if [[ -n $KAFKA_ADMIN_USERNAME ]]; then
    # ACLs on: the admin (the brokers' account) may do anything and grants the pipeline's
    # account its topics. The controller listener is plaintext on the node's own address,
    # so its broker-to-controller requests come as ANONYMOUS.
    conf+=$'\n'"authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    conf+=$'\n'"super.users=User:$KAFKA_ADMIN_USERNAME;User:ANONYMOUS"
  fi
fi
printf '%s\n' "$conf" > "$CONF"

LOG4J=(-Dlog4j2.configurationFile="$HERE/log4j2.properties")
TOOL=(java -Xmx256M "${LOG4J[@]}" -Dkafka.root.log.level=WARN -cp "$CP" kafka.tools.StorageTool)

# Format once. Every node of a cluster formats with the same cluster id, kept in
# $STATE_DIR (made by whichever node gets the lock first); a re-format after a node's
# data is wiped reuses it. --ignore-formatted guards against a race with a 2nd run.
if [[ ! -f "$DATA/meta.properties" ]]; then
  ID_FILE="$STATE_DIR/kafka.cluster-id"
  (
    flock 9
    [[ -s "$ID_FILE" ]] || "${TOOL[@]}" random-uuid | tail -n 1 > "$ID_FILE"
  ) 9> "$ID_FILE.lock"
  CLUSTER_ID="$(<"$ID_FILE")"
  # The tool accepts any string as id, so a polluted capture would go unnoticed.
  if [[ ! "$CLUSTER_ID" =~ ^[A-Za-z0-9_-]{22}$ ]]; then
    echo "kafka/run.sh: bad cluster id in $ID_FILE: $CLUSTER_ID" >&2; exit 1
  fi
  echo "kafka/run.sh: formatting $DATA (cluster id $CLUSTER_ID)" >&2
  format=(format -t "$CLUSTER_ID" -c "$CONF" --ignore-formatted)
  if [[ $KAFKA_SECURITY_PROTOCOL == SASL_SSL && $KAFKA_SASL_MECHANISM == SCRAM-* ]]; then
    # The account's SCRAM credential goes into the metadata log; the java launcher reads
    # the whole command from a file (mode 600), so its password never shows in `ps`.
    format+=(--add-scram "$KAFKA_SASL_MECHANISM=[name=$KAFKA_USERNAME,password=$KAFKA_PASSWORD]")
    [[ -z $KAFKA_ADMIN_USERNAME ]] ||
      format+=(--add-scram "$KAFKA_SASL_MECHANISM=[name=$KAFKA_ADMIN_USERNAME,password=$KAFKA_ADMIN_PASSWORD]")
  fi
  args="$KDIR/format.args"
  printf '"%s"\n' "${TOOL[@]:1}" "${format[@]}" > "$args"
  status=0
  java "@$args" >&2 || status=$?
  rm -f "$args"
  ((status == 0)) || exit "$status"
fi

# JVM flags as in Kafka's own kafka-server-start.sh / kafka-run-class.sh.
exec java -Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP" \
  -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
  -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 \
  -Djava.awt.headless=true "${LOG4J[@]}" \
  -cp "$CP" kafka.Kafka "$CONF"
