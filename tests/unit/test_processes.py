import os
import signal
import socket
import subprocess
import sys
import time

from pipeline.stack import processes


def test_a_started_process_is_found_by_its_pid_file_and_stopped(tmp_path):
    pid_file, log_file = tmp_path / "run" / "sleeper.pid", tmp_path / "log" / "sleeper.log"
    process = processes.spawn(
        [sys.executable, "-c", "print('hello', flush=True); import time; time.sleep(60)"], {}, pid_file, log_file
    )
    assert processes.running_pid(pid_file) == process.pid
    assert processes.stop(pid_file, timeout=5) == process.pid
    process.wait(timeout=5)
    assert processes.running_pid(pid_file) is None and not pid_file.exists()
    assert "hello" in processes.tail(log_file)


def test_a_reused_pid_is_not_mistaken_for_ours(tmp_path):
    pid_file = tmp_path / "other.pid"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        pid_file.write_text(f"{other.pid} 1\n")  # same pid, different start time
        assert processes.running_pid(pid_file) is None
        assert processes.stop(pid_file, timeout=1) is None
        assert other.poll() is None, "stop() must never kill a process it did not start"
    finally:
        other.kill()
        other.wait()


def test_port_taken_sees_a_listener():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert processes.port_taken("127.0.0.1", port)
    assert not processes.port_taken("127.0.0.1", port)


def test_descendants_are_found_to_any_depth():
    grandparent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import subprocess, sys, time; "
                'subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; '
                'subprocess.Popen([sys.executable, \x27-c\x27, \x27import time; time.sleep(60)\x27]); time.sleep(60)"]); '
                "time.sleep(60)"
            ),
        ]
    )
    try:
        deadline = time.monotonic() + 10
        while len(processes.descendants(grandparent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        parent, child = processes.descendants(grandparent.pid)
        assert processes.children(grandparent.pid) == [parent] and processes.children(parent) == [child]
    finally:
        for pid in processes.descendants(grandparent.pid):
            os.kill(pid, signal.SIGKILL)
        grandparent.kill()
        grandparent.wait()
