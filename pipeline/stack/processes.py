"""What the operating system says about a process: alive, its children, its command line; ports and log tails."""

import errno
import socket
from collections import deque
from pathlib import Path


def alive(pid: int) -> bool:
    """True while pid runs (an exited, not yet reaped zombie does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state follows the command name, which may contain spaces.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


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
