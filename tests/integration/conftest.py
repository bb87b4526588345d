"""Integration tests run against the real local stack that `make test` starts."""
import os
import subprocess
import sys

import pytest

from pipeline.settings import REPO_ROOT, Settings
from pipeline.stack import processes
from pipeline.stack.services import services


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)


def stack(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the launcher as `make` does, in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline.stack", *args], cwd=REPO_ROOT, capture_output=True, text=True,
        env={**os.environ, **(env or {})}, timeout=timeout,
    )


@pytest.fixture(scope="session", autouse=True)
def running_stack(settings: Settings) -> None:
    down = [s.name for s in services(settings) if processes.running_pid(s.pid_file(settings)) is None]
    if down:
        pytest.fail(f"not running: {', '.join(down)}. Start the stack with `make up` (make test does).")
