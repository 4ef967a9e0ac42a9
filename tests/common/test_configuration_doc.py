"""docs/configuration.md states each service's defaults: tied to the Settings objects here, as
docs/logs.md is tied to the log events, so a changed default cannot leave the page behind."""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path

import pytest

from polybot.settings import Settings as PolybotSettings
from yolo5.settings import Settings as WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"
REQUIRED = {
    "polybot": {
        "IMAGES_BUCKET": "b",
        "JOBS_QUEUE_URL": "https://sqs.example/q",
        "PREDICTIONS_TABLE": "t",
        "TELEGRAM_TOKEN_SECRET_ID": "s",
    },
    "yolo5": {
        "JOBS_QUEUE_URL": "https://sqs.example/q",
        "PREDICTIONS_TABLE": "t",
        "POLYBOT_RESULTS_URL": "http://polybot/results",
    },
}
SETTINGS = {"polybot": PolybotSettings, "yolo5": WorkerSettings}
SOURCES = {"polybot": ROOT / "polybot" / "settings.py", "yolo5": ROOT / "yolo5" / "settings.py"}
_ROW = re.compile(r"^\| `([A-Z0-9_]+)` \| `([^`]*)` \|", re.M)


def documented(section: str) -> dict[str, str]:
    """{variable: default} of the rows with a literal default, in the page's `section` and in
    "Both services"."""
    text = DOC.read_text()
    found = {}
    for name in ("Both services", section):
        body = text.split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]
        found.update(_ROW.findall(body))
    return found


def read_by(service: str) -> set[str]:
    """The variables a service's Settings.from_env reads (env_*("NAME", ...) calls)."""
    source = SOURCES[service].read_text()
    return set(re.findall(r'env_\w+\(\s*"([A-Z0-9_]+)"', source))


@pytest.mark.parametrize("service", ["polybot", "yolo5"])
def test_every_documented_default_is_the_settings_default(service):
    settings = SETTINGS[service]
    defaults = asdict(settings.from_env(REQUIRED[service]))
    checked = []
    for variable, default in documented(service).items():
        if variable not in read_by(service):
            continue  # read by gunicorn.conf.py, boto3 or local mode, not by Settings
        given = asdict(settings.from_env({**REQUIRED[service], variable: default}))
        assert given == defaults, f"{variable}: the page says {default!r}"
        checked.append(variable)
    assert len(checked) >= 5, checked  # the page and the parser still find each other


@pytest.mark.parametrize("service", ["polybot", "yolo5"])
def test_every_variable_the_settings_read_is_documented(service):
    text = DOC.read_text()
    missing = {v for v in read_by(service) if f"`{v}`" not in text}
    assert not missing
