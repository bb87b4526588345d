"""Integration tests run against the real local stack that `make test` starts."""

from datetime import timedelta

import httpx
import pandas as pd
import pytest

from pipeline.settings import SECURE, TOPOLOGY, Settings, get_settings
from pipeline.stack.services import services
from pipeline.stack.supervisor import pids
from tests.integration.helpers import cassandra_session, pipeline_mysql

# cluster/, secure/ and external/ run against their own stacks alone (`pipeline.stack apart` and
# tests/external.sh start them).
collect_ignore = [
    name
    for name, on in (
        ("cluster", TOPOLOGY == "cluster"),
        ("secure", SECURE),
        ("external", get_settings().external_kinds),
    )
    if not on
]


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session", autouse=True)
def running_stack(settings: Settings) -> None:
    running = pids(settings)
    down = [s.name for s in services(settings) if not s.external and s.name not in running]
    if down:
        pytest.fail(f"not running: {', '.join(down)}. Start the stack with `make up` (make test does).")


@pytest.fixture
def api(settings: Settings):
    """An HTTP client for the running ingest API, with a valid key."""
    with httpx.Client(base_url=settings.api_url, headers={"X-API-Key": settings.api_key_list[0]}, timeout=10) as client:
        yield client


@pytest.fixture
def cassandra(settings: Settings):
    with cassandra_session(settings) as session:
        yield session


@pytest.fixture
def mysql(settings: Settings):
    with pipeline_mysql(settings) as connection:
        yield connection


@pytest.fixture(scope="module")
def window(settings: Settings) -> timedelta:
    return pd.Timedelta(settings.window_duration).to_pytimedelta()
