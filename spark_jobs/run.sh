#!/usr/bin/env bash
# Runs the orders stream in the foreground with the pinned pyspark's spark-submit.
# This script stays the parent of the driver JVM, whose child is the Python
# driver; `make stop-job` sends SIGTERM to that grandchild so the running batch
# can finish. When the job exits with 75 (EX_TEMPFAIL), only a new JVM can go on
# (spark_jobs/orders_stream.py says why in the log): it is started again, and
# resumes from the checkpoint. Any other exit ends this script with its status.
# The connectors come from jars/ (`make setup`). Env (all required): SPARK_MASTER,
# SPARK_LOCAL_IP, SPARK_UI_PORT, SPARK_DRIVER_MEMORY, DEFAULT_UNIT_PRICE; and
# SPARK_DRIVER_JAVA_OPTIONS, which may be empty.
# Executors on a cluster get the contract's settings (pipeline.settings.ContractSettings)
# as spark.executorEnv, and no secret.
set -euo pipefail
: "${SPARK_MASTER:?}" "${SPARK_LOCAL_IP:?}" "${SPARK_UI_PORT:?}" "${SPARK_DRIVER_MEMORY:?}" "${DEFAULT_UNIT_PRICE:?}"
: "${SPARK_DRIVER_JAVA_OPTIONS?}"
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

shopt -s nullglob
jars=(jars/*.jar)
[[ ${#jars[@]} -gt 0 ]] || { echo "spark_jobs/run.sh: no jars in jars/: run \`make setup\`" >&2; exit 1; }
jar_list=$(IFS=,; echo "${jars[*]}")

# Driver and Python workers import pipeline/ and spark_jobs/ with the project's Python.
export SPARK_LOCAL_IP PYTHONPATH="$repo" PYSPARK_PYTHON="$repo/.venv/bin/python" PYSPARK_DRIVER_PYTHON="$repo/.venv/bin/python"
starts=1
while true; do
  status=0
  "$repo/.venv/bin/spark-submit" \
    --master "$SPARK_MASTER" --name orders_stream --driver-memory "$SPARK_DRIVER_MEMORY" \
    --jars "$jar_list" \
    --conf spark.ui.port="$SPARK_UI_PORT" --conf spark.port.maxRetries=0 \
    --conf spark.executorEnv.DEFAULT_UNIT_PRICE="$DEFAULT_UNIT_PRICE" \
    --driver-java-options "-Dlog4j2.configurationFile=file:$repo/spark_jobs/log4j2.properties $SPARK_DRIVER_JAVA_OPTIONS" \
    spark_jobs/orders_stream.py || status=$?
  [[ $status -eq 75 ]] || exit "$status"
  starts=$((starts + 1))
  echo "spark_jobs/run.sh: the job exited with 75 (EX_TEMPFAIL); start $starts, from the checkpoint" >&2
done
