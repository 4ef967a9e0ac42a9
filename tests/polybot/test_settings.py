from __future__ import annotations

import pytest

from common.env import SettingsError
from polybot.settings import Settings

REQUIRED = {
    "IMAGES_BUCKET": "b",
    "JOBS_QUEUE_URL": "http://q",
    "PREDICTIONS_TABLE": "t",
    "TELEGRAM_TOKEN_SECRET_ID": "s",
}


def test_defaults():
    settings = Settings.from_env(REQUIRED)
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert settings.max_photo_bytes == 20 * 1024 * 1024
    assert settings.webhook_max_connections == 40
    assert settings.log_group is None and settings.public_url is None
    assert settings.version == "unknown"


def test_overrides():
    env = {
        **REQUIRED,
        "TELEGRAM_API_URL": "http://127.0.0.1:9/",
        "PUBLIC_URL": "https://x.io/",
        "MAX_PHOTO_BYTES": "1000",
        "LOG_LEVEL": "debug",
        "LOG_GROUP": "g",
        "APP_VERSION": "1a2b3c4" + "0" * 33,
    }
    settings = Settings.from_env(env)
    assert settings.version == "1a2b3c4" + "0" * 33
    assert settings.telegram_api_url == "http://127.0.0.1:9"
    assert settings.public_url == "https://x.io"
    assert (settings.max_photo_bytes, settings.log_level, settings.log_group) == (
        1000,
        "DEBUG",
        "g",
    )


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_missing_required_setting_names_it(name):
    env = {k: v for k, v in REQUIRED.items() if k != name}
    with pytest.raises(SettingsError, match=name):
        Settings.from_env(env)


@pytest.mark.parametrize(
    "extra",
    [
        {"MAX_PHOTO_BYTES": "0"},
        {"MAX_PHOTO_BYTES": "30000000"},
        {"TELEGRAM_API_URL": "ftp://x"},
        {"WEBHOOK_MAX_CONNECTIONS": "lots"},
    ],
)
def test_bad_values_are_refused(extra):
    with pytest.raises(SettingsError):
        Settings.from_env({**REQUIRED, **extra})
