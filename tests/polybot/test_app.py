"""The factory and logging: JSON lines with ids, and never the bot token."""

from __future__ import annotations

import io
import json
import logging
from dataclasses import replace

import pytest

from common.jsonlog import JsonFormatter, register_secret
from polybot.app import create_app
from tests.polybot.conftest import CHAT_ID, photo_update, post_update
from tests.polybot.fakes import TOKEN, api_error, connection_error


@pytest.fixture
def json_lines():
    """Everything logged during the test, as polybot's JSON formatter writes it."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("polybot"))
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.DEBUG)
    yield lambda: [json.loads(line) for line in out.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(previous)


def test_token_never_reaches_a_log_line(client, bot, caplog, json_lines):
    caplog.set_level(logging.DEBUG)
    bot.add_file("photo-1", b"jpeg")
    bot.fail("get_file", *[connection_error()] * 4)
    bot.fail("send_message", api_error(403, "Forbidden"), connection_error())
    assert post_update(client, photo_update(200, 1)).status_code == 503
    assert post_update(client, photo_update(200, 1)).status_code == 200
    assert caplog.records, "the failures above must have been logged"
    assert TOKEN not in caplog.text
    assert all(TOKEN not in json.dumps(line) for line in json_lines())


def test_request_path_log_lines_carry_the_ids(client, bot, json_lines):
    bot.add_file("photo-1", b"jpeg")
    post_update(client, photo_update(201, 2))
    queued = [line for line in json_lines() if line.get("event") == "job.queued"]
    assert len(queued) == 1
    assert queued[0]["update_id"] == 201
    assert queued[0]["chat_id"] == CHAT_ID
    assert queued[0]["prediction_id"]


def test_redaction_is_the_last_line_of_defence(json_lines):
    register_secret(TOKEN)
    logging.getLogger("polybot.test").warning("oops %s", TOKEN)
    assert json_lines()[-1]["msg"] == "oops ***"


def test_errors_are_json(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.get_json() == {"error": "Not Found"}


def test_the_start_up_event_names_the_commit(settings, clients, json_lines):
    create_app(replace(settings, version="9" * 40), clients)

    started = [line for line in json_lines() if line.get("event") == "app.started"]
    assert [line["version"] for line in started] == ["9" * 40]
