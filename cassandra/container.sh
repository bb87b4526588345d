#!/usr/bin/env bash
# Docker mode's start-up (docker-compose.yml runs it in the official cassandra
# image, as its cassandra user): the same cassandra.yaml as local mode, with the
# container's own address where local mode has 127.0.0.1, as run.sh does.
# Heap: MAX_HEAP_SIZE and HEAP_NEWSIZE, read by the image's cassandra-env.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
address=$(hostname -i | awk '{print $1}')
sed "s/127\.0\.0\.1/${address}/g" "$here/cassandra.yaml" > "$CASSANDRA_CONF/cassandra.yaml"
exec cassandra -f
