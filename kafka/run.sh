#!/usr/bin/env bash
# Runs a single-node KRaft Kafka broker+controller in the foreground (exec: this
# pid becomes the JVM's, so SIGTERM to it is a clean Kafka shutdown).
# Jars come from Maven Central via kafka/pom.xml; data lives in $STATE_DIR/kafka.
# Settings (read from .env at each start): STATE_DIR, KAFKA_HOST, KAFKA_PORT,
# KAFKA_CONTROLLER_PORT, KAFKA_HEAP (e.g. 512M).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
settings=$(cd "$HERE/.." && .venv/bin/python -m pipeline.settings \
  STATE_DIR KAFKA_HOST KAFKA_PORT KAFKA_CONTROLLER_PORT KAFKA_HEAP) || exit 2
eval "$settings"

KDIR="$STATE_DIR/kafka"
DATA="$KDIR/data"
CP_FILE="$HERE/target/classpath.txt"  # resolved by `make setup`
CONF="$KDIR/server.properties"
mkdir -p "$DATA"

[[ -s "$CP_FILE" ]] || { echo "kafka/run.sh: $CP_FILE is missing: run \`make setup\`" >&2; exit 1; }
CP="$(<"$CP_FILE")"

# Effective config: fill the template's @NAME@ placeholders (quoted replacement so a
# '&' in a path stays literal under bash 5.2).
conf="$(<"$HERE/server.properties")"
for v in STATE_DIR KAFKA_HOST KAFKA_PORT KAFKA_CONTROLLER_PORT; do
  conf="${conf//@$v@/"${!v}"}"
done
printf '%s\n' "$conf" > "$CONF"

LOG4J=(-Dlog4j2.configurationFile="$HERE/log4j2.properties")
TOOL=(java -Xmx256M "${LOG4J[@]}" -Dkafka.root.log.level=WARN -cp "$CP" kafka.tools.StorageTool)

# Format once. The cluster id is kept beside the data so a re-format (after the data
# dir is wiped) reuses it; --ignore-formatted guards against a race with a 2nd run.
if [[ ! -f "$DATA/meta.properties" ]]; then
  if [[ ! -s "$KDIR/cluster.id" ]]; then
    "${TOOL[@]}" random-uuid | tail -n 1 > "$KDIR/cluster.id"
  fi
  CLUSTER_ID="$(<"$KDIR/cluster.id")"
  # The tool accepts any string as id, so a polluted capture would go unnoticed.
  if [[ ! "$CLUSTER_ID" =~ ^[A-Za-z0-9_-]{22}$ ]]; then
    echo "kafka/run.sh: bad cluster id in $KDIR/cluster.id: $CLUSTER_ID" >&2; exit 1
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
