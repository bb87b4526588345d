#!/usr/bin/env bash
# Runs a Spark standalone master in the foreground, from the pinned pyspark's own
# spark-class (no Spark distribution needed), for the cluster topology. It listens
# where SPARK_MASTER (spark://HOST:PORT) says; its UI on SPARK_MASTER_UI_PORT.
# Settings read from .env (and cluster.env) at each start.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
settings=$(.venv/bin/python -m pipeline.settings SPARK_MASTER SPARK_MASTER_UI_PORT SPARK_LOCAL_IP) || exit 2
eval "$settings"
address=${SPARK_MASTER#spark://}
[[ $address != "$SPARK_MASTER" ]] || { echo "spark/run-master.sh: SPARK_MASTER is not spark://HOST:PORT" >&2; exit 2; }
# The master and workers are small daemons; executors get their memory from the workers.
# pyspark's own Spark: the jars and bin/ of the pinned wheel.
SPARK_HOME=$(.venv/bin/python -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
export SPARK_HOME SPARK_LOCAL_IP SPARK_DAEMON_MEMORY=256m
exec .venv/bin/spark-class org.apache.spark.deploy.master.Master \
  --host "${address%:*}" --port "${address##*:}" --webui-port "$SPARK_MASTER_UI_PORT"
