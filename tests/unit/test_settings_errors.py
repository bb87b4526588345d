import os
import subprocess
import sys

import pytest

from pipeline.settings import REPO_ROOT


def test_an_invalid_setting_is_named_without_a_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.stack", "status"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "KAFKA_PORT": "ninety"},
        timeout=60,
    )
    assert result.returncode == 2
    assert "KAFKA_PORT: Input should be a valid integer" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("keys", ["", " , "])
def test_the_api_cannot_be_configured_without_a_key(keys):
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.stack", "status"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "API_KEYS": keys},
        timeout=60,
    )
    assert result.returncode == 2
    assert "API_KEYS: Value error, at least one key is required" in result.stderr
