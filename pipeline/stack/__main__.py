"""Start, check and stop the local stack.

Usage: python -m pipeline.stack {up,down,status,logs,urls,teardown,schemas,probe} [kafka|cassandra|mysql|superset|api|spark ...]

`up` starts each server in the background with its own log file, waits until
it answers a real client, applies the topics and schemas and imports the
dashboard, then starts the clients (the ingest API and the Spark job) the same way. Running it again is
harmless. `down` stops by pid what `up` started and keeps the data;
`teardown` also deletes the state folder (data, logs, checkpoints).
`schemas` only applies the topics, schemas and dashboard to servers already
running, and `probe` only asks each service once whether it answers: the
compose file's init job and healthchecks run these two.
"""

import argparse
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from subprocess import Popen

from pydantic import SecretStr, ValidationError

from pipeline.settings import REPO_ROOT, Settings, get_settings
from pipeline.stack import dashboard, processes, schemas
from pipeline.stack.processes import StackError
from pipeline.stack.services import Service, services

SCHEMAS = {
    "kafka": ("topics", lambda s: f"created {schemas.create_topics(s) or 'none (all exist)'}"),
    "cassandra": ("keyspace and tables", lambda s: f"{schemas.apply_cassandra(s)} statements applied"),
    "mysql": ("database, tables, users and customers", schemas.apply_mysql),
    "superset": ("dashboard", dashboard.apply),
}


class Progress:
    def __init__(self, total: int):
        self.done, self.total = 0, total

    def step(self, message: str) -> None:
        self.done += 1
        print(f"[{self.done}/{self.total}] {message}", flush=True)


def shown(path) -> str:
    return os.path.relpath(path, REPO_ROOT) if path.is_relative_to(REPO_ROOT) else str(path)


def read_the_log(service: Service, settings: Settings) -> str:
    """Where the service's own words are: its log file here, or the container's log in docker mode."""
    log_file = service.log_file(settings)
    if log_file.exists():
        return f"Read {shown(log_file)}"
    return f"Read the {service.name} log (`docker compose logs {service.name}` in docker mode)"


def server_env(settings: Settings, secrets: tuple[str, ...] = ()) -> dict[str, str]:
    """The environment run.sh scripts read: settings in upper case, secrets only those named."""
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if isinstance(value, SecretStr):
            if name in secrets:
                env[name.upper()] = value.get_secret_value()
        else:
            env[name.upper()] = str(value)
    env["STATE_DIR"] = str(settings.state_path)
    return env


def probe_error(service: Service, settings: Settings) -> Exception | None:
    """None when the service answers its real client query, else why not."""
    try:
        service.probe(settings)
        return None
    except Exception as error:  # any client error means "not answering (yet)"
        return error


def start(service: Service, settings: Settings) -> Popen | None:
    """Start service unless it is already running; the new process, if any."""
    pid_file, log_file = service.pid_file(settings), service.log_file(settings)
    if processes.running_pid(pid_file):
        return None
    if processes.port_taken(service.host, service.port):
        raise StackError(
            f"{service.name} cannot start: {service.host}:{service.port} is already in use by another "
            f"process. Stop that process or set {service.name.upper()}_PORT in .env. Log: {shown(log_file)}"
        )
    return processes.spawn(["bash", str(service.run_script)], server_env(settings, service.secrets), pid_file, log_file)


def wait_ready(service: Service, settings: Settings, process: Popen | None) -> float:
    """Seconds until service answered its probe; StackError if it died or timed out."""
    pid_file, log_file = service.pid_file(settings), service.log_file(settings)
    started = time.monotonic()
    while True:
        exit_code = process.poll() if process else None
        if processes.running_pid(pid_file) is None:
            how = f"exited with code {exit_code}" if exit_code is not None else "is not running"
            raise StackError(
                f"{service.name} {how} before answering on {service.host}:{service.port}. "
                f"Read {shown(log_file)}; its last lines:\n{processes.tail(log_file)}"
            )
        last_error = probe_error(service, settings)
        if last_error is None:
            return time.monotonic() - started
        if time.monotonic() - started > settings.startup_timeout:
            raise StackError(
                f"{service.name} did not answer on {service.host}:{service.port} within "
                f"{settings.startup_timeout:.0f}s (last error: {last_error}). Read {shown(log_file)}"
            )
        time.sleep(1)


def up(chosen: list[Service], settings: Settings) -> None:
    servers, clients = [s for s in chosen if not s.client], [s for s in chosen if s.client]
    progress = Progress(2 * len(chosen) + sum(service.name in SCHEMAS for service in servers))
    start_and_wait(servers, settings, progress)
    apply_schemas(servers, settings, progress)
    start_and_wait(clients, settings, progress)


def apply_schemas(chosen: list[Service], settings: Settings, progress: Progress | None = None) -> None:
    """Topics, schemas, users and the dashboard on running servers (compose's init job runs this alone)."""
    chosen = [service for service in chosen if service.name in SCHEMAS]
    progress = progress or Progress(len(chosen))
    for service in chosen:
        what, apply = SCHEMAS[service.name]
        try:
            done = apply(settings)
        except Exception as error:  # a refused schema or import: say which service and where to look
            raise StackError(
                f"{service.name}: applying the {what} failed: {error}. {read_the_log(service, settings)}"
            ) from error
        progress.step(f"{service.name}: {what}: {done}")


def probe(chosen: list[Service], settings: Settings) -> None:
    """Each service's real client query, once (compose's healthchecks run this)."""
    for service in chosen:
        error = probe_error(service, settings)
        if error:
            raise StackError(
                f"{service.name} is not answering on {service.host}:{service.port}: {error}. "
                f"{read_the_log(service, settings)}"
            )
        print(f"{service.name}: answering on {service.host}:{service.port}")


def start_and_wait(chosen: list[Service], settings: Settings, progress: Progress) -> None:
    started = {}
    for service in chosen:
        started[service.name] = start(service, settings)
        pid = processes.running_pid(service.pid_file(settings))
        state = "started" if started[service.name] else "already running"
        progress.step(f"{service.name}: {state}, pid {pid}, log {shown(service.log_file(settings))}")
    for service in chosen:
        seconds = wait_ready(service, settings, started[service.name])
        progress.step(f"{service.name}: answering on {service.host}:{service.port} ({seconds:.1f}s)")


def down(chosen: list[Service], settings: Settings) -> None:
    def stop(service: Service) -> str:
        began = time.monotonic()
        pid = processes.stop(service.pid_file(settings), service.stop_timeout, service.terminate)
        if pid is None:
            return f"{service.name}: not running"
        return f"{service.name}: stopped pid {pid} ({time.monotonic() - began:.1f}s)"

    progress = Progress(len(chosen))
    for group in ([s for s in chosen if s.client], [s for s in chosen if not s.client]):
        with ThreadPoolExecutor(max(1, len(group))) as pool:
            for line in pool.map(stop, group):
                progress.step(line)


def status(chosen: list[Service], settings: Settings) -> None:
    for service in chosen:
        pid = processes.running_pid(service.pid_file(settings))
        if pid:
            state = f"up    pid {pid}, " + ("NOT answering" if probe_error(service, settings) else "answering")
        elif processes.port_taken(service.host, service.port):
            state = "down  (port in use by another process)"
        else:
            state = "down"
        print(
            f"{service.name:<10} {service.host}:{service.port:<6} {state:<42} log {shown(service.log_file(settings))}"
        )


def logs(chosen: list[Service], settings: Settings, follow: bool) -> None:
    files = [service.log_file(settings) for service in chosen]
    if follow:
        os.execvp("tail", ["tail", "-n", "20", "-F", *map(str, files)])
    for service, log_file in zip(chosen, files):
        print(f"==> {service.name}: {shown(log_file)}")
        print(processes.tail(log_file, 20))


def urls(_chosen: list[Service], settings: Settings) -> None:
    spark_log = next(s for s in services(settings) if s.name == "spark").log_file(settings)
    print(f"ingest API  {settings.api_url}  (docs {settings.api_url}/docs)  X-API-Key: {settings.api_key_list[0]}")
    print(f"Kafka       {settings.kafka_bootstrap}  topics {settings.orders_topic}, {settings.dlq_topic}")
    print(f"Cassandra   {settings.cassandra_host}:{settings.cassandra_port}  keyspace {settings.cassandra_keyspace}")
    print(
        f"MySQL       {settings.mysql_host}:{settings.mysql_port}/{settings.mysql_database}  "
        f"read-only user {settings.mysql_readonly_user} (password in .env)"
    )
    # In docker mode the job logs to `docker compose logs spark-job`, not to a file here.
    job_log = f"  (job log {shown(spark_log)})" if spark_log.exists() else ""
    print(f"Spark UI    http://{settings.spark_local_ip}:{settings.spark_ui_port}{job_log}")
    print(
        f"Dashboard   {dashboard.dashboard_url(settings)}  user {settings.superset_admin_user} "
        f"password {settings.superset_admin_password.get_secret_value()}  (refreshes every 10 s)"
    )


def teardown(chosen: list[Service], settings: Settings) -> None:
    down(chosen, settings)
    shutil.rmtree(settings.state_path, ignore_errors=True)
    print(f"deleted {shown(settings.state_path)} (data, logs, checkpoints)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.stack", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "status", "logs", "urls", "teardown", "schemas", "probe"])
    parser.add_argument("services", nargs="*", help="default: all")
    parser.add_argument("--follow", action="store_true", help="logs: keep following")
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as error:
        bad = "; ".join(f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors())
        print(f"error: .env (or the environment) has invalid settings: {bad}", file=sys.stderr)
        return 2
    everything = services(settings)
    unknown = set(args.services) - {service.name for service in everything}
    if unknown:
        parser.error(f"unknown service(s): {', '.join(sorted(unknown))}")
    chosen = [service for service in everything if not args.services or service.name in args.services]
    try:
        if args.command == "logs":
            logs(chosen, settings, args.follow)
        elif args.command == "teardown" and args.services:
            parser.error("teardown takes no service names: it deletes the whole state folder")
        else:
            commands = {
                "up": up,
                "down": down,
                "status": status,
                "urls": urls,
                "teardown": teardown,
                "schemas": apply_schemas,
                "probe": probe,
            }
            commands[args.command](chosen, settings)
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
