"""Start, check and stop the local stack; what `make up`, `down`, `status` and `logs` run.

Usage: python -m pipeline.stack {up,down,status,logs,urls,teardown,schemas,probe,installs,renew} [NAME ...]
       python -m pipeline.stack apart [--fresh] NAME=VALUE ... -- COMMAND ...

The processes and their rules live in process-compose.yaml; its supervisor,
process-compose, runs them in the background. `up` starts the supervisor (or,
when it runs, the named processes that are not running), re-applies the
topics, schemas and dashboard, and prints a line per step until every process
is ready, or stops with the failing one's name and log. `down` stops them
(all, then the supervisor, without names) and keeps the data; `teardown` also
deletes the state folder (data, logs, checkpoints). `schemas` and `probe` are
steps of their own: process-compose and the docker compose file run them;
`installs` names what `make setup` installs for the servers of ours. `apart`
runs a command on another stack (its own state folder, topology or mode; what
`make test` and `make bench` use; with --fresh, started from nothing each time
(`renew`), so no data, checkpoint or schema of an earlier run or version is in
the way): it stops the caller's stack first, since they share ports, and starts
it again afterwards if it was running; the caller's data is never touched, nor
any stack apart did not make.

A server marked *_EXTERNAL=true runs elsewhere: `up` starts none of it (process-compose
runs a copy of its file without it), waits until it answers at the addresses the
settings give, and applies topics and schemas to it as to our own.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr, ValidationError

from pipeline.settings import REPO_ROOT, SECURE, Settings, get_settings
from pipeline.stack import dashboard, processes, schemas, tls
from pipeline.stack.services import Service, misconfigured, probe_error, services
from pipeline.stack.supervisor import (
    CONFIG,
    Process,
    Supervisor,
    SupervisorError,
    declared,
    dependencies,
    kind_of,
    log_file,
    own,
    pids,
    placement,
)

SCHEMAS: dict[str, tuple[str, Callable[[Settings], object]]] = {
    "kafka": ("topics", schemas.apply_kafka),
    "cassandra": ("keyspace and tables", schemas.apply_cassandra),
    "mysql": ("database, tables, users and customers", schemas.apply_mysql),
    "superset": ("dashboard", dashboard.apply),
}


class StackError(Exception):
    """A service could not be started, reached or stopped; the message says which and where to read why."""


class Progress:
    def __init__(self, total: int):
        self.done, self.total = 0, total

    def step(self, message: str) -> None:
        self.done += 1
        print(f"[{self.done}/{self.total}] {message}", flush=True)


def shown(path: Path) -> str:
    return os.path.relpath(path, REPO_ROOT) if path.is_relative_to(REPO_ROOT) else str(path)


def read_the_log(settings: Settings, name: str) -> str:
    """Where the service's (or every node of a kind's) own words are: log files here, or the
    container's log in docker mode, or the server's own, run elsewhere."""
    if kind_of(name) in settings.external_kinds:
        return f"It runs elsewhere ({external_switch(name)}=true): read its own logs"
    paths = [log_file(settings, process) for process in declared() if name in (process, kind_of(process))]
    if any(path.exists() for path in paths):
        return f"Read {', '.join(shown(path) for path in paths)}"
    return f"Read `docker compose logs {name}` (docker mode)"


def server_env(settings: Settings) -> dict[str, str]:
    """process-compose's environment: the settings process-compose.yaml places processes with, as of now.

    Every process inherits it, so it holds no secret and nothing else: each
    process reads the rest of .env itself when it starts.
    """
    values = {**settings.model_dump(), "state_dir": settings.state_path}
    placed = {name: values[name.lower()] for name in placement()}
    secret = [name for name, value in placed.items() if isinstance(value, SecretStr)]
    if secret:
        raise StackError(f"process-compose.yaml must not read secrets: {', '.join(secret)}")
    return {**os.environ, **{name: str(value) for name, value in placed.items()}}


def one_shot(name: str) -> bool:
    """A step that runs to its end (schemas, dashboard), not a server."""
    return "readiness_probe" not in declared()[name]


def external_switch(name: str) -> str:
    return f"{kind_of(name).split('-')[0].upper()}_EXTERNAL"


def up(names: list[str], settings: Settings) -> None:
    wanted = dependencies(names or list(declared()))
    needed = own(wanted, settings)
    elsewhere = [
        service
        for service in services(settings)
        if service.external and (service.kind in map(kind_of, wanted) or not names)
    ]
    supervisor = Supervisor(settings)
    running = supervisor.processes() if supervisor.alive() else {}
    to_start = [name for name in needed if name not in running or not running[name].running]
    by_name = {service.name: service for service in services(settings)}
    for name in to_start:
        service = by_name.get(name)
        if service and processes.port_taken(service.host, service.port):
            raise StackError(
                f"{name} cannot start: {service.host}:{service.port} is already in use by another process. "
                f"Stop that process or set {name.upper()}_PORT in .env. Log: {shown(log_file(settings, name))}"
            )
    already = {name for name in needed if name not in to_start and not one_shot(name)}
    progress = Progress(
        len(elsewhere) + sum(1 if one_shot(name) else 2 for name in needed if name in already or name in to_start)
    )
    if SECURE and own(["kafka", "cassandra", "mysql"], settings):  # certificates for servers of ours
        try:
            print(f"tls: {tls.ensure(settings)}", flush=True)
        except (ValueError, RuntimeError) as error:
            raise StackError(f"tls: {error}") from error
    for service in elsewhere:
        wait_for_answer(service, settings)
        switch = external_switch(service.name)
        progress.step(f"{service.name}: runs elsewhere ({switch}=true), answers on {service.host}:{service.port}")
    if not needed:
        return
    if not running:
        supervisor.start_server(needed, server_env(settings))
        wait_until_ready(supervisor, needed, already, settings, progress)
    else:
        wait_until_ready(supervisor, sorted(already, key=needed.index), already, settings, progress)
        # One wave at a time: process-compose would take a step that finished earlier
        # for done, and start what depends on it before it ran again.
        for wave in waves(to_start):
            for name in wave:
                supervisor.start(name)
            wait_until_ready(supervisor, wave, already, settings, progress)
    if not names:
        urls(names, settings)


def waves(names: list[str]) -> list[list[str]]:
    """names in groups, each depending only on processes of earlier groups (or on none of names)."""
    level: dict[str, int] = {}
    for name in names:  # declared order is start order: dependencies come first
        inside = [dep for dep in declared()[name].get("depends_on", {}) if dep in names]
        level[name] = 1 + max((level[dep] for dep in inside), default=-1)
    return [[name for name in names if level[name] == depth] for depth in sorted(set(level.values()))]


def wait_until_ready(
    supervisor: Supervisor, names: list[str], already: set[str], settings: Settings, progress: Progress
) -> None:
    """A line per process as it starts and answers; StackError naming the first that fails."""
    began = time.monotonic()
    started: dict[str, float] = {}
    ready: set[str] = set()
    before = supervisor.processes()
    restarts = {name: p.restarts for name, p in before.items()}
    # A process started again shows how its last run ended until the new run begins.
    ended_before = {name for name, p in before.items() if not p.running}
    while len(ready) < len(names):
        if time.monotonic() - began > 2 * settings.startup_timeout:
            late = ", ".join(name for name in names if name not in ready)
            raise StackError(
                f"{late}: not ready after {2 * settings.startup_timeout:.0f} s. Read {shown(supervisor.log_file)}"
            )
        states = supervisor.processes()
        for name in names:
            process = states[name]
            if name in ready:
                continue
            if name in ended_before:
                if not process.running:
                    continue
                ended_before.discard(name)
            log = shown(log_file(settings, name))
            failure = failed(process, restarts.get(name, 0), one_shot(name))
            if failure:
                if process.running:
                    supervisor.stop(name)  # no crash loop behind the error
                raise StackError(
                    f"{name} {failure}. Read {log}; its last lines:\n{processes.tail(log_file(settings, name))}"
                )
            if one_shot(name):
                if process.status == "Completed":
                    last = processes.tail(log_file(settings, name), 1).strip()
                    progress.step(f"{name}: done ({time.monotonic() - began:.1f} s): {last}")
                    ready.add(name)
                continue
            if name not in started and process.running and process.pid:
                started[name] = time.monotonic()
                state = "already running" if name in already else "started"
                progress.step(f"{name}: {state}, pid {process.pid}, log {log}")
            if name in started and process.ready == "Ready":
                progress.step(f"{name}: ready ({time.monotonic() - started[name]:.1f} s)")
                ready.add(name)
            elif name in started and time.monotonic() - started[name] > settings.startup_timeout:
                supervisor.stop(name)
                raise StackError(f"{name} did not answer within {settings.startup_timeout:.0f} s. Read {log}")
        time.sleep(0.25)


def failed(process: Process, restarts_before: int, step: bool) -> str | None:
    """Why the process failed to start, or None. A step fails by a non-zero status, a server by ending at all."""
    if process.status == "Skipped":
        return "did not start: a process it depends on failed"
    if process.status in ("Completed", "Error") and (process.exit_code != 0 or not step):
        return f"exited with status {process.exit_code}"
    if process.restarts > restarts_before + 1:  # one restart can be a crash meanwhile; two, it cannot start
        return f"exited with status {process.exit_code} twice in a row"
    return None


def down(names: list[str], settings: Settings) -> None:
    supervisor = Supervisor(settings)
    if not supervisor.alive():
        print("not running")
        return
    running = {name: p for name, p in supervisor.processes().items() if p.running}
    stopping = [name for name in reversed(declared()) if name in running and (not names or name in names)]
    progress = Progress(len(stopping))
    if names:
        for name in stopping:
            began = time.monotonic()
            supervisor.stop(name)
            progress.step(f"{name}: stopped pid {running[name].pid} ({time.monotonic() - began:.1f} s)")
        return
    began = time.monotonic()
    supervisor.shut_down()
    for name in stopping:
        progress.step(f"{name}: stopped pid {running[name].pid}")
    print(f"process-compose: stopped ({time.monotonic() - began:.1f} s)")


def status(names: list[str], settings: Settings) -> None:
    supervisor = Supervisor(settings)
    known = supervisor.processes() if supervisor.alive() else {}
    for service in services(settings):
        if names and service.name not in names:
            continue
        process = known.get(service.name)
        if service.external:
            answering = "NOT answering" if probe_error(service, settings) else "answering"
            state = f"elsewhere, {answering} ({external_switch(service.name)}=true)"
        elif process and process.running:
            answering = "NOT answering" if probe_error(service, settings) else "answering"
            state = f"up    pid {process.pid}, {answering}, {process.restarts} restarts"
        elif processes.port_taken(service.host, service.port):
            state = "down  (port in use by another process)"
        else:
            state = "down"
        address = f"{service.host}:{service.port}"
        log = "-" if service.external else shown(log_file(settings, service.name))
        print(f"{service.name:<14} {address:<16} {state:<48} log {log}")


def logs(names: list[str], settings: Settings, follow: bool) -> None:
    files = [log_file(settings, name) for name in own(names or list(declared()), settings)]
    if follow:
        os.execvp("tail", ["tail", "-n", "20", "-F", *map(str, files)])
    for path in files:
        print(f"==> {shown(path)}")
        print(processes.tail(path, 20))


def urls(_names: list[str], settings: Settings) -> None:
    print(f"ingest API  {settings.api_url}  (docs {settings.api_url}/docs)  X-API-Key: {settings.api_key_list[0]}")
    print(f"Kafka       {settings.kafka_bootstrap}  topics {settings.orders_topic}, {settings.dlq_topic}")
    nodes = ",".join(settings.cassandra_nodes)
    print(f"Cassandra   {nodes} port {settings.cassandra_port}  keyspace {settings.cassandra_keyspace}")
    print(
        f"MySQL       {settings.mysql_host}:{settings.mysql_port}/{settings.mysql_database}  "
        f"read-only user {settings.mysql_readonly_user} (password in .env)"
    )
    print(f"Spark UI    http://{settings.spark_local_ip}:{settings.spark_ui_port}", end="")
    if settings.spark_master.startswith("spark://"):
        print(
            f"  (master {settings.spark_master}, UI http://{settings.spark_local_ip}:{settings.spark_master_ui_port})"
        )
    else:
        print()
    print(
        f"Dashboard   {dashboard.dashboard_url(settings)}  user {settings.superset_admin_user} "
        f"password {settings.superset_admin_password.get_secret_value()}  (refreshes every 10 s)"
    )


def teardown(_names: list[str], settings: Settings) -> None:
    down([], settings)
    shutil.rmtree(settings.state_path, ignore_errors=True)
    print(f"deleted {shown(settings.state_path)}: the data of Kafka, Cassandra, MySQL and Superset, logs, checkpoints")


MADE_APART = ".made-by-apart"  # marks a state folder `renew` made, the only kind it deletes


def renew(_names: list[str], settings: Settings) -> None:
    """For `apart`: an empty state folder for its stack. One that `renew` made before is deleted
    first; one without its mark (`make up` made it: someone's data) is used as it is."""
    mark = settings.state_path / MADE_APART
    if settings.state_path.exists() and not mark.exists():
        print(f"==> apart: {shown(settings.state_path)} was not made by apart; using it as it is")
        return
    if settings.state_path.exists():
        teardown([], settings)
    settings.state_path.mkdir(parents=True, exist_ok=True)
    mark.touch()


def apply_schemas(kinds: list[str], settings: Settings, wait: bool = False) -> None:
    """Topics, schemas, users and the dashboard, of the named kinds of service (default all); with `wait`,
    once every node of that kind answers its real client (process-compose starts this step when the
    servers' ports open; compose, when they answer)."""
    chosen = [kind for kind in SCHEMAS if not kinds or kind in kinds]
    progress = Progress(len(chosen))
    for kind in chosen:
        what, apply = SCHEMAS[kind]
        if wait:
            for service in services(settings):
                if service.kind == kind:
                    wait_for_answer(service, settings)
        try:
            done = apply(settings)
        except Exception as error:  # a refused schema or import: say which service and where to look
            hint = f"{misconfigured(kind, error)}; " if misconfigured(kind, error) else ""
            raise StackError(
                f"{kind}: applying the {what} failed: {hint}{error}. {read_the_log(settings, kind)}"
            ) from error
        progress.step(f"{kind}: {what}: {done}")


def wait_for_answer(service: Service, settings: Settings) -> None:
    began, misconfigured_in_a_row = time.monotonic(), 0
    while error := probe_error(service, settings):
        hint = misconfigured(service.kind, error)
        misconfigured_in_a_row = misconfigured_in_a_row + 1 if hint else 0
        if misconfigured_in_a_row == 3:  # not a server still starting: waiting would not help
            raise StackError(f"{service.name} on {service.host}:{service.port}: {hint} ({error})")
        if time.monotonic() - began > settings.startup_timeout:
            raise StackError(
                f"{service.name} did not answer on {service.host}:{service.port} within "
                f"{settings.startup_timeout:.0f} s (last error: {error}). {read_the_log(settings, service.name)}"
            )
        time.sleep(1)


def apart(assignments: dict[str, str], command: list[str], settings: Settings, fresh: bool = False) -> int:
    """Run `command` on the stack the NAME=VALUE assignments select, with those in its environment
    (`NAME=` takes NAME out of it), `fresh`: from an empty state folder; its exit status. The
    caller's stack (`settings`) is stopped first and, if it ran, started again."""
    other = {name: value for name, value in {**os.environ, **assignments}.items() if assignments.get(name) != ""}
    launcher = [sys.executable, "-m", "pipeline.stack"]
    changed = {name: value for name, value in assignments.items() if os.environ.get(name, "") != value}
    if set(changed) <= {"STATE_DIR"} and (REPO_ROOT / changed.get("STATE_DIR", settings.state_path)) == (
        settings.state_path
    ):  # the caller's own stack: nothing to move aside
        return subprocess.run([*launcher, "up"]).returncode or subprocess.run(command).returncode
    was_running = Supervisor(settings).alive()
    if was_running:
        which = " ".join(f"{name}={value}" for name, value in changed.items())
        print(f"==> apart: stopping the stack in {shown(settings.state_path)} while the one of {which} runs")
        down([], settings)
    try:
        return (
            (fresh and subprocess.run([*launcher, "renew"], env=other).returncode)
            or subprocess.run([*launcher, "up"], env=other).returncode
            or subprocess.run(command, env=other).returncode
        )
    finally:
        subprocess.run([*launcher, "down"], env=other)
        if was_running:
            print(f"==> apart: starting the stack in {shown(settings.state_path)} again")
            up([], settings)


def migrate(_names: list[str], settings: Settings) -> None:
    """The migrations of Cassandra and MySQL (and topics, users, customers) on running servers: `make migrate`."""
    apply_schemas(["kafka", "cassandra", "mysql"], settings)


def upgrade_stream(_names: list[str], settings: Settings) -> None:
    """Stop the job, move it to a new checkpoint that starts after the last batch in MySQL, start it."""
    supervisor = Supervisor(settings)
    if supervisor.alive() and "spark" in pids(settings):
        down(["spark"], settings)
    # Through spark-submit, as the job: the checkpoint is read with Spark's own Hadoop FileSystem.
    moved = subprocess.run(["bash", "spark_jobs/run.sh", "spark_jobs/checkpoint.py", "upgrade"], cwd=REPO_ROOT)
    if moved.returncode != 0:
        raise StackError("moving the stream to a new checkpoint failed (above); the job is left stopped")
    up(["spark"], settings)


def probe(names: list[str], settings: Settings) -> None:
    """Each named service's (or kind's: `kafka` is every node) real client query, once
    (docker compose's healthchecks run this)."""
    for service in services(settings):
        if names and service.name not in names and service.kind not in names:
            continue
        error = probe_error(service, settings)
        if error and (hint := misconfigured(service.kind, error)):
            raise StackError(f"{service.name} on {service.host}:{service.port}: {hint} ({error})")
        if error:
            raise StackError(
                f"{service.name} is not answering on {service.host}:{service.port}: {error}. "
                f"{read_the_log(settings, service.name)}"
            )
        print(f"{service.name}: answering on {service.host}:{service.port}")


# What `make setup` installs for a kind of server of ours (its Makefile targets); nothing for one
# run elsewhere.
INSTALLS = {
    "kafka": "kafka/target/classpath.txt",
    "cassandra": "cassandra/target/classpath.txt",
    "mysql": "mariadb",
    "superset": "superset/.venv/.synced",
}


def installs(_names: list[str], settings: Settings) -> None:
    print(" ".join(target for kind, target in INSTALLS.items() if kind not in settings.external_kinds))


COMMANDS: dict[str, Callable[[list[str], Settings], None]] = {
    "up": up,
    "down": down,
    "status": status,
    "urls": urls,
    "teardown": teardown,
    "renew": renew,
    "schemas": apply_schemas,
    "migrate": migrate,
    "upgrade-stream": upgrade_stream,
    "probe": probe,
    "installs": installs,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["apart"]:
        if "--" not in argv or not argv[argv.index("--") + 1 :]:
            print("usage: python -m pipeline.stack apart [--fresh] NAME=VALUE ... -- COMMAND ...", file=sys.stderr)
            return 2
        options = argv[1 : argv.index("--")]
        assignments = dict(pair.split("=", 1) for pair in options if pair != "--fresh")
        try:
            return apart(assignments, argv[argv.index("--") + 1 :], get_settings(), fresh="--fresh" in options)
        except (StackError, SupervisorError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    parser = argparse.ArgumentParser(prog="python -m pipeline.stack", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=[*COMMANDS, "logs"])
    parser.add_argument("names", nargs="*", help="processes of process-compose.yaml (default: all)")
    parser.add_argument("--follow", action="store_true", help="logs: keep following")
    parser.add_argument("--wait", action="store_true", help="schemas: first wait until each server answers")
    args = parser.parse_intermixed_args(argv)
    try:
        settings = get_settings()
    except ValidationError as error:
        bad = "; ".join(f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors())
        print(f"error: .env (or the environment) has invalid settings: {bad}", file=sys.stderr)
        return 2
    unknown = set(args.names) - set(declared()) - {kind_of(name) for name in declared()}
    if unknown:
        parser.error(f"unknown process(es): {', '.join(sorted(unknown))}; {CONFIG.name} has {', '.join(declared())}")
    if args.command in ("teardown", "renew") and args.names:
        parser.error(f"{args.command} takes no names: it deletes the whole state folder")
    try:
        if args.command == "logs":
            logs(args.names, settings, args.follow)
        elif args.command == "schemas":
            apply_schemas(args.names, settings, args.wait)
        else:
            COMMANDS[args.command](args.names, settings)
    except (StackError, SupervisorError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
