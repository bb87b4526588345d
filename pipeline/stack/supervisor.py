"""process-compose, the one supervisor of the local stack: its server, and what it says about each process.

The processes, their start order, readiness probes, restart and shutdown
rules are declared in process-compose.yaml; this module starts the
process-compose server in the background and talks to it over its unix socket
(its REST API, https://f1bonacc1.github.io/process-compose/client/).
"""

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from pipeline.settings import REPO_ROOT, TOPOLOGY, Settings

# The build `make setup` pins (Makefile: PROCESS_COMPOSE_VERSION), else one on PATH.
TOOLS = REPO_ROOT / ".tools" / "bin"
# The topology's declaration: process-compose.yaml, or process-compose.NAME.yaml for TOPOLOGY=NAME.
CONFIG = REPO_ROOT / ("process-compose.yaml" if TOPOLOGY == "single" else f"process-compose.{TOPOLOGY}.yaml")
RUNNING = {"Running", "Launching", "Launched", "Restarting", "Pending", "Terminating"}


class SupervisorError(Exception):
    """process-compose could not be started or did not answer."""


@dataclass(frozen=True)
class Process:
    """One process as process-compose reports it."""

    name: str
    status: str  # Pending, Running, Completed, Skipped, Error, ...
    ready: str  # Ready, Not Ready, or "-" without a readiness probe
    pid: int
    restarts: int
    exit_code: int

    @property
    def running(self) -> bool:
        return self.status in RUNNING


def kind_of(name: str) -> str:
    """A process's kind of server: `kafka-2` is a `kafka`."""
    return re.sub(r"-\d+$", "", name)


def declared() -> dict[str, dict]:
    """The processes of process-compose.yaml, in the order they are declared (their start order)."""
    return yaml.safe_load(CONFIG.read_text())["processes"]


def placement() -> list[str]:
    """The settings process-compose.yaml reads (`${NAME}`): where processes live and listen."""
    text = "\n".join(line for line in CONFIG.read_text().splitlines() if not line.lstrip().startswith("#"))
    return sorted(set(re.findall(r"\$\{(\w+)\}", text)))


def dependencies(names: list[str]) -> list[str]:
    """names and everything they depend on, in start order."""
    processes, needed = declared(), set(names)
    while True:
        wider = needed | {dep for name in needed for dep in processes[name].get("depends_on", {})}
        if wider == needed:
            return [name for name in processes if name in needed]
        needed = wider


def own(names: list[str], settings: Settings) -> list[str]:
    """names without the servers run elsewhere (settings.external_kinds)."""
    return [name for name in names if kind_of(name) not in settings.external_kinds]


def effective_config(settings: Settings) -> Path:
    """The file process-compose runs: CONFIG, or, with servers run elsewhere, a copy in the state
    folder without them and without waiting on them. (process-compose's own `disabled: true`
    would leave the dependencies on them, which its strict mode refuses.)"""
    if not settings.external_kinds:
        return CONFIG
    project = yaml.safe_load(CONFIG.read_text())
    project["processes"] = {
        name: {
            **process,
            "depends_on": {dep: rule for dep, rule in process.get("depends_on", {}).items() if own([dep], settings)},
        }
        for name, process in project["processes"].items()
        if own([name], settings)
    }
    path = settings.state_path / "run" / CONFIG.name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"# {CONFIG.name} without the external servers, made by `make up`\n" + yaml.safe_dump(project, sort_keys=False)
    )
    return path


class Supervisor:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.socket = settings.state_path / "run" / "process-compose.sock"
        self.log_file = settings.state_path / "log" / "process-compose.log"
        self.client = httpx.Client(transport=httpx.HTTPTransport(uds=str(self.socket)), base_url="http://pc")

    def alive(self) -> bool:
        try:
            return self.client.get("/live", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def start_server(self, names: list[str], env: dict[str, str]) -> None:
        """Start process-compose in the background, and with it `names` and what they depend on."""
        binary = shutil.which("process-compose", path=os.pathsep.join([str(TOOLS), os.environ.get("PATH", "")]))
        if binary is None:
            raise SupervisorError("process-compose is not installed: `make setup` builds it into .tools/bin")
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)  # left by a server that was killed
        command = [binary, "--config", str(effective_config(self.settings)), "--disable-dotenv", "--ordered-shutdown"]
        command += ["--use-uds", "--unix-socket", str(self.socket), "--log-file", str(self.log_file)]
        started = subprocess.run(
            [*command, "up", "--detached", "--keep-project", *names],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        )
        deadline = time.monotonic() + 10
        while not self.alive():
            if started.returncode != 0 or time.monotonic() > deadline:
                raise SupervisorError(f"process-compose did not start: {started.stderr.strip()[-500:]}")
            time.sleep(0.1)

    def processes(self) -> dict[str, Process]:
        states = self.client.get("/processes", timeout=10).raise_for_status().json()["data"]
        return {
            state["name"]: Process(
                state["name"], state["status"], state["is_ready"], state["pid"], state["restarts"], state["exit_code"]
            )
            for state in states
        }

    def start(self, name: str) -> None:
        self._call("POST", f"/process/start/{name}", timeout=10)

    def restart(self, name: str) -> None:
        self._call("POST", f"/process/restart/{name}", timeout=300)

    def stop(self, name: str) -> None:
        """Stop the process and wait until it exited (its shutdown timeout in process-compose.yaml)."""
        self._call("PATCH", f"/process/stop/{name}", timeout=300)

    def shut_down(self) -> None:
        """Stop every process in reverse start order, then the server itself."""
        try:
            # Answered once every process has stopped, if the server is not gone by then.
            self._call("POST", "/project/stop", timeout=600)
        except SupervisorError:
            if self.alive():
                raise
        while self.alive():
            time.sleep(0.2)

    def _call(self, method: str, path: str, timeout: float) -> None:
        try:
            answer = self.client.request(method, path, timeout=timeout)
        except httpx.TransportError as error:
            raise SupervisorError(f"process-compose did not answer {path} ({error}); read {self.log_file}") from None
        if answer.status_code != 200:
            raise SupervisorError(f"process-compose refused {path}: {answer.json().get('error', answer.text)}")


def log_file(settings: Settings, name: str) -> Path:
    """Where process-compose.yaml sends the process's output."""
    return Path(declared()[name]["log_location"].replace("${STATE_DIR}", str(settings.state_path)))


def pids(settings: Settings) -> dict[str, int]:
    """The pid of each running process of the stack; none when the supervisor is down."""
    supervisor = Supervisor(settings)
    if not supervisor.alive():
        return {}
    return {name: p.pid for name, p in supervisor.processes().items() if p.running and p.pid}
