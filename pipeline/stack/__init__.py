"""The local stack: Kafka, Cassandra and MariaDB as real processes, no Docker.

Each service folder (kafka/, cassandra/, mysql/) owns a `run.sh` that runs its
server in the foreground; this package starts those scripts in the
background, waits until each server answers a real client, applies the
schemas, and stops the servers by pid. Usage: python -m pipeline.stack --help
"""
