#!/usr/bin/env bash
# Cassandra's nodetool from the same Maven Central jars as the node (no tarball),
# against the JMX port of one node: CASSANDRA_JMX_PORT from the settings, or -p PORT.
# Usage: cassandra/nodetool.sh [-p JMX_PORT] COMMAND [ARGS...]
#   cassandra/nodetool.sh status                      the ring, every node's state
#   TOPOLOGY=cluster cassandra/nodetool.sh -p 7299 repair -full sales
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
settings=$(cd "$HERE/.." && .venv/bin/python -m pipeline.settings CASSANDRA_JMX_PORT) || exit 2
eval "$settings"
port=$CASSANDRA_JMX_PORT
if [[ ${1:-} == -p ]]; then port=$2; shift 2; fi
CP_FILE="$HERE/target/classpath.txt"
[ -s "$CP_FILE" ] || { echo "cassandra/nodetool.sh: $CP_FILE is missing: run \`make setup\`" >&2; exit 1; }
# The node's module exports and opens (jvm17.options), which the tools need as well.
mapfile -t OPENS < <(grep -E '^--add-(exports|opens)' "$HERE/jvm17.options")
exec "${JAVA_HOME:+$JAVA_HOME/bin/}java" -Xmx128m "${OPENS[@]}" -Dlogback.configurationFile="$HERE/logback.xml" \
  -cp "$(cat "$CP_FILE")" org.apache.cassandra.tools.NodeTool -h 127.0.0.1 -p "$port" "$@"
