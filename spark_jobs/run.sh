#!/usr/bin/env bash
# Runs the orders stream in the foreground with the pinned pyspark's spark-submit:
# spark-defaults.conf beside this script, then the settings from .env.
# Usage: run.sh [SCRIPT ARGS...]   (default: spark_jobs/orders_stream.py; `make
# upgrade-stream` runs spark_jobs/checkpoint.py upgrade the same way)
# SIGTERM stops it gracefully: it goes to the Python driver (spark-submit's child),
# which lets the running batch finish and stops the query; the JVM, signalled
# itself, would stop the SparkContext under the running batch. Exits with the
# job's status: 0 when stopped, non-zero when it failed (its supervisor starts it
# again). The connectors come from jars/ (`make setup`); the settings below are
# read from .env at each start. Executors get the contract's settings
# (pipeline.settings.ContractSettings) as spark.executorEnv, and no secret.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
settings=$(.venv/bin/python -m pipeline.settings SPARK_MASTER SPARK_LOCAL_IP SPARK_UI_PORT SPARK_DRIVER_MEMORY \
  SPARK_DRIVER_JAVA_OPTIONS SPARK_SHUFFLE_PARTITIONS SPARK_SHIP_PYTHON CASSANDRA_NODES CASSANDRA_PORT \
  CASSANDRA_SSL CASSANDRA_SSL_CA_FILE TLS_KEYSTORE_PASSWORD SPARK_SUBMIT_ARGS DEFAULT_UNIT_PRICE STATE_DIR) || exit 2
eval "$settings"
script=${1:-spark_jobs/orders_stream.py}
shift || true

shopt -s nullglob
jars=(jars/*.jar)
[[ ${#jars[@]} -gt 0 ]] || { echo "spark_jobs/run.sh: no jars in jars/: run \`make setup\`" >&2; exit 1; }
jar_list=$(IFS=,; echo "${jars[*]}")

# The driver imports pipeline/ and spark_jobs/ with the project's Python; so do the
# Python workers of executors inside its JVM (local mode). Executors in their own
# JVMs (a cluster) get a packed environment and the code (spark/pack-python.sh).
export SPARK_LOCAL_IP PYTHONPATH="$repo" PYSPARK_PYTHON="$repo/.venv/bin/python" PYSPARK_DRIVER_PYTHON="$repo/.venv/bin/python"
shipped=()
if [[ $SPARK_SHIP_PYTHON == True ]]; then
  python="$STATE_DIR/spark-python"
  # job.zip lands in each executor's working directory; on PYTHONPATH, the Python daemon
  # (spark.python.daemon.module) finds its module there before the first task.
  shipped=(--archives "$python/environment.tar.gz#environment" --py-files "$python/job.zip"
           --conf spark.executorEnv.PYTHONPATH=job.zip --conf spark.pyspark.python=./environment/bin/python
           --conf spark.pyspark.driver.python="$repo/.venv/bin/python")
fi
# The Cassandra connector trusts a Java trust store (pipeline/clients.py: spark_truststore).
if [[ $CASSANDRA_SSL == True && -n $CASSANDRA_SSL_CA_FILE ]]; then
  export TLS_KEYSTORE_PASSWORD  # to keytool through its environment, not its arguments
  store="$STATE_DIR/spark/cassandra-truststore.p12"
  mkdir -p "$(dirname "$store")" && rm -f "$store"
  keytool -importcert -noprompt -alias ca -file "$CASSANDRA_SSL_CA_FILE" -keystore "$store" \
    -storetype PKCS12 -storepass:env TLS_KEYSTORE_PASSWORD >/dev/null
fi
# SPARK_SUBMIT_ARGS come after the project's own, so a --conf there wins.
read -ra extra <<< "$SPARK_SUBMIT_ARGS"
"$repo/.venv/bin/spark-submit" \
  --properties-file spark_jobs/spark-defaults.conf \
  --master "$SPARK_MASTER" --driver-memory "$SPARK_DRIVER_MEMORY" --jars "$jar_list" "${shipped[@]}" \
  --conf spark.ui.port="$SPARK_UI_PORT" \
  --conf spark.sql.shuffle.partitions="$SPARK_SHUFFLE_PARTITIONS" \
  --conf spark.cassandra.connection.host="$CASSANDRA_NODES" \
  --conf spark.cassandra.connection.port="$CASSANDRA_PORT" \
  --conf spark.executorEnv.DEFAULT_UNIT_PRICE="$DEFAULT_UNIT_PRICE" \
  --driver-java-options "-Dlog4j2.configurationFile=file:$repo/spark_jobs/log4j2.properties $SPARK_DRIVER_JAVA_OPTIONS" \
  "${extra[@]}" "$script" "$@" &
submit=$!
stopping=0
stop_driver() {  # the Python driver if it runs yet, else the JVM
  local child
  stopping=1
  for child in $(cat /proc/"$submit"/task/*/children 2>/dev/null); do
    if grep -qa "$script" /proc/"$child"/cmdline 2>/dev/null; then
      kill -TERM "$child"
      return 0  # a bare return would give the interrupted wait's status, which set -e ends the script on
    fi
  done
  kill -TERM "$submit"
}
trap stop_driver TERM
status=0
wait "$submit" || status=$?
if ((stopping)); then  # the trap cut the wait short: wait for the job's own end
  status=0
  wait "$submit" || status=$?
fi
exit "$status"
