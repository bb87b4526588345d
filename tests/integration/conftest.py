"""Integration tests run against the real local stack that `make test` starts."""
import pytest

from pipeline.settings import Settings
from pipeline.stack import processes
from pipeline.stack.services import services


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session", autouse=True)
def running_stack(settings: Settings) -> None:
    down = [s.name for s in services(settings) if processes.running_pid(s.pid_file(settings)) is None]
    if down:
        pytest.fail(f"not running: {', '.join(down)}. Start the stack with `make up` (make test does).")
