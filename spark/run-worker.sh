#!/usr/bin/env bash
# Runs a Spark standalone worker in the foreground, from the pinned pyspark's own
# spark-class, registered with SPARK_MASTER: it starts executors, each in its own
# JVM, with SPARK_WORKER_CORES and SPARK_WORKER_MEMORY to share. Its work
# directory (where executors unpack the job's Python) is $STATE_DIR/<process name>.
# process-compose.cluster.yaml gives each worker its own SPARK_WORKER_UI_PORT.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
settings=$(.venv/bin/python -m pipeline.settings SPARK_MASTER SPARK_LOCAL_IP SPARK_WORKER_CORES \
  SPARK_WORKER_MEMORY SPARK_WORKER_UI_PORT STATE_DIR) || exit 2
eval "$settings"
work="$STATE_DIR/${PC_PROC_NAME:-spark-worker}"
mkdir -p "$work"
# pyspark's own Spark: the jars and bin/ of the pinned wheel.
SPARK_HOME=$(.venv/bin/python -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
export SPARK_HOME SPARK_LOCAL_IP SPARK_DAEMON_MEMORY=256m
exec .venv/bin/spark-class org.apache.spark.deploy.worker.Worker "$SPARK_MASTER" \
  --host "$SPARK_LOCAL_IP" --cores "$SPARK_WORKER_CORES" --memory "$SPARK_WORKER_MEMORY" \
  --webui-port "$SPARK_WORKER_UI_PORT" --work-dir "$work"
