#!/usr/bin/env bash
# Runs one KRaft Kafka node (broker and controller) in the foreground (exec: this
# pid becomes the JVM's, so SIGTERM to it is a clean Kafka shutdown): the only node
# of the single-node stack, or one of a cluster's, which process-compose.cluster.yaml
# gives its own KAFKA_NODE_ID and ports. Jars come from Maven Central via
# kafka/pom.xml; data lives in $STATE_DIR/<process name>. Settings (read from .env at
# each start): STATE_DIR, KAFKA_NODE_ID, KAFKA_HOST, KAFKA_PORT, KAFKA_CONTROLLER_PORT,
# KAFKA_VOTERS, KAFKA_REPLICATION_FACTOR, KAFKA_MIN_INSYNC_REPLICAS, KAFKA_HEAP.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
settings=$(cd "$HERE/.." && .venv/bin/python -m pipeline.settings STATE_DIR KAFKA_NODE_ID KAFKA_HOST KAFKA_PORT \
  KAFKA_CONTROLLER_PORT KAFKA_VOTERS KAFKA_REPLICATION_FACTOR KAFKA_MIN_INSYNC_REPLICAS KAFKA_HEAP) || exit 2
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
         KAFKA_MIN_INSYNC_REPLICAS; do
  conf="${conf//@$v@/"${!v}"}"
done
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
  "${TOOL[@]}" format -t "$CLUSTER_ID" -c "$CONF" --ignore-formatted >&2
fi

# JVM flags as in Kafka's own kafka-server-start.sh / kafka-run-class.sh.
exec java -Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP" \
  -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
  -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 \
  -Djava.awt.headless=true "${LOG4J[@]}" \
  -cp "$CP" kafka.Kafka "$CONF"
