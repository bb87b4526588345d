"""Start a command in the background, find it again by its pid file, stop it.

A pid file holds the pid and the process start time, so a pid reused by an
unrelated process after a reboot is never mistaken for ours (or killed).
"""

import errno
import os
import signal
import socket
import subprocess
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path


class StackError(Exception):
    """A service could not be started or stopped; the message says which and why."""


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name (which may contain spaces): state is
    # field 3, starttime field 22. A zombie has exited, whoever reaps it.
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]


def alive(pid: int) -> bool:
    """True while pid runs (an exited, not yet reaped zombie does not count)."""
    return _start_time(pid) is not None


def running_pid(pid_file: Path) -> int | None:
    """The pid recorded in pid_file if that very process is still alive."""
    try:
        pid_text, started = pid_file.read_text().split()
    except (OSError, ValueError):
        return None
    pid = int(pid_text)
    return pid if _start_time(pid) == started else None


def spawn(command: list[str], env: dict[str, str], pid_file: Path, log_file: Path) -> subprocess.Popen:
    """Run command in its own session, output appended to log_file, pid recorded."""
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(command)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            command,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    pid_file.write_text(f"{process.pid} {_start_time(process.pid)}\n")
    return process


def terminate_group(pid: int) -> None:
    os.killpg(pid, signal.SIGTERM)


def children(pid: int) -> list[int]:
    """Direct children of pid, whichever of its threads started them."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:  # the thread ended meanwhile
            continue
    return found


def descendants(pid: int) -> list[int]:
    """Children of pid, their children, and so on."""
    found, parents = [], [pid]
    while parents:
        parents = [child for parent in parents for child in children(parent)]
        found += parents
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def stop(pid_file: Path, timeout: float, terminate: Callable[[int], None] = terminate_group) -> int | None:
    """terminate(pid) (default: SIGTERM its process group), SIGKILL the group after timeout; the pid it stopped."""
    pid = running_pid(pid_file)
    if pid is not None:
        terminate(pid)
        deadline = time.monotonic() + timeout
        while running_pid(pid_file) == pid and time.monotonic() < deadline:
            time.sleep(0.2)
        if running_pid(pid_file) == pid:
            os.killpg(pid, signal.SIGKILL)
            while running_pid(pid_file) == pid:
                time.sleep(0.1)
    pid_file.unlink(missing_ok=True)
    return pid


def port_taken(host: str, port: int) -> bool:
    """True if something already listens on host:port (so our server could not bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return error.errno == errno.EADDRINUSE
    return False


def tail(path: Path, lines: int = 15) -> str:
    try:
        with path.open(errors="replace") as text:
            return "".join(deque(text, maxlen=lines))
    except OSError:
        return ""
