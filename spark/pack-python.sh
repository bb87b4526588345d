#!/usr/bin/env bash
# Packs what executors in their own JVMs need to run the job's Python, as Spark
# documents it: a virtualenv of executor-requirements.txt packed by venv-pack
# (spark_jobs/run.sh passes it with --archives ...#environment; it holds no
# interpreter, so each executor host needs Python 3.11 at this machine's path)
# and the job's code as a zip (--py-files). Writes $STATE_DIR/spark-python/
# environment.tar.gz (rebuilt when the requirements change) and job.zip (always).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
settings=$(.venv/bin/python -m pipeline.settings STATE_DIR) || exit 2
eval "$settings"
out="$STATE_DIR/spark-python"
mkdir -p "$out"
stamp=$(sha256sum spark/executor-requirements.txt | cut -c1-16)
if [[ ! -s "$out/environment.tar.gz" || "$(cat "$out/environment.stamp" 2>/dev/null)" != "$stamp" ]]; then
  echo "spark/pack-python.sh: packing the executors' Python ($out/environment.tar.gz)"
  rm -rf "$out/environment"
  python3 -m uv venv --quiet --python python3.11 "$out/environment"
  python3 -m uv pip sync --quiet --python "$out/environment/bin/python" spark/executor-requirements.txt
  .venv/bin/venv-pack --quiet --force -p "$out/environment" -o "$out/environment.tar.gz"
  rm -rf "$out/environment"
  echo "$stamp" > "$out/environment.stamp"
fi
rm -f "$out/job.zip"
.venv/bin/python -m zipfile -c "$out/job.zip" pipeline spark_jobs
echo "spark/pack-python.sh: $out/environment.tar.gz and $out/job.zip ready"
