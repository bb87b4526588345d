"""A bad setting stops the launcher with one line naming it (exit status 2), never a traceback."""

import pytest

from pipeline.settings import get_settings
from pipeline.stack.__main__ import main


@pytest.fixture
def fresh_settings():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_an_invalid_setting_is_named_without_a_traceback(monkeypatch, capsys, fresh_settings):
    monkeypatch.setenv("KAFKA_PORT", "ninety")
    assert main(["status"]) == 2
    assert "KAFKA_PORT: Input should be a valid integer" in capsys.readouterr().err


@pytest.mark.parametrize("keys", ["", " , "])
def test_the_api_cannot_be_configured_without_a_key(keys, monkeypatch, capsys, fresh_settings):
    monkeypatch.setenv("API_KEYS", keys)
    assert main(["status"]) == 2
    assert "API_KEYS: Value error, at least one key is required" in capsys.readouterr().err
