import os
import signal
import socket
import subprocess
import sys
import time

from pipeline.stack import processes


def test_a_process_is_alive_until_it_exits_even_before_it_is_reaped():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    assert processes.alive(child.pid)
    child.kill()
    while processes.alive(child.pid):  # a zombie now, not yet waited for
        time.sleep(0.05)
    child.wait()
    assert not processes.alive(child.pid)


def test_port_taken_sees_a_listener():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert processes.port_taken("127.0.0.1", port)
    assert not processes.port_taken("127.0.0.1", port)


def test_descendants_are_found_to_any_depth():
    sleeper = "import time; time.sleep(60)"
    parent = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {sleeper!r}]); time.sleep(60)"
    grandparent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {parent!r}]); time.sleep(60)",
        ]
    )
    try:
        deadline = time.monotonic() + 10
        while len(processes.descendants(grandparent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        middle, youngest = processes.descendants(grandparent.pid)
        assert processes.children(grandparent.pid) == [middle]
        assert processes.children(middle) == [youngest]
    finally:
        for pid in processes.descendants(grandparent.pid):
            os.kill(pid, signal.SIGKILL)
        grandparent.kill()
        grandparent.wait()
