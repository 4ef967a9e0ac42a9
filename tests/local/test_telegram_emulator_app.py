"""The emulator's factory, chat page, and `python -m local.telegram_emulator` as a process."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from local.telegram_emulator import create_app
from local.telegram_emulator.client import EmulatorClient
from tests.support.emulator import TEST_TOKEN
from tests.support.images import sample_image
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client():
    return create_app(TEST_TOKEN).test_client()


@pytest.mark.parametrize("token", ["", "no-colon", "abc:defghijklmnop", "123:short"])
def test_create_app_refuses_a_malformed_token_without_echoing_it(token):
    with pytest.raises(ValueError) as caught:
        create_app(token)
    assert token == "" or token not in str(caught.value)


def test_chat_page_has_the_stable_hooks(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert '<input id="photo-input" type="file"' in page
    assert 'name="viewport"' in page
    assert "http://" not in page and "https://" not in page  # no CDN: the machine is offline
    script = client.get("/static/chat.js").get_data(as_text=True)
    # Bot bubbles are .msg.bot holding img.photo, .caption or .text (the browser test's hooks).
    for hook in (
        "`msg ${kind}`",
        'bubble("bot"',
        '"img", "photo"',
        '"div", "caption"',
        '"div", "text"',
        "/messages`",
        "textContent",
    ):
        assert hook in script
    css = client.get("/static/chat.css").get_data(as_text=True)
    assert "pre-wrap" in css  # caption newlines are preserved
    assert "@media (max-width: 480px)" in css


def test_files_served_to_the_page_are_the_stored_bytes(client):
    data = sample_image("zidane.jpg").read_bytes()
    answer = client.post("/emulator/chats/5/photo", data=data).get_json()
    state = client.application.extensions["telegram_emulator"]
    largest = state.user_message(5, answer["message_id"])["photo"][-1]
    served = client.get(f"/emulator/files/{largest['file_id']}")
    assert served.data == data
    assert served.mimetype == "image/jpeg"


def test_oversized_requests_get_json_errors(client):
    client.application.config["MAX_CONTENT_LENGTH"] = 1000
    response = client.post(
        f"/bot{TEST_TOKEN}/sendPhoto",
        data={"chat_id": "1", "photo": (io.BytesIO(b"x" * 5000), "big.jpg")},
    )
    assert response.status_code == 413
    assert response.get_json() == {
        "ok": False,
        "error_code": 413,
        "description": "Request Entity Too Large",
    }
    response = client.post("/emulator/chats/1/photo", data=b"x" * 5000)
    assert response.status_code == 413
    assert response.get_json()["status"] == 413


def _start(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "local.telegram_emulator"],
        cwd=ROOT,
        env={**os.environ, **env},
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_module_fails_fast_without_a_token():
    env = {key: value for key, value in os.environ.items() if key != "EMULATOR_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "local.telegram_emulator"],
        cwd=ROOT,
        env={**env, "EMULATOR_PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert "EMULATOR_TOKEN is required" in line["msg"]


@pytest.mark.slow
def test_module_serves_on_its_port_logs_json_and_never_the_token():
    port = free_port()
    process = _start({"EMULATOR_TOKEN": TEST_TOKEN, "EMULATOR_PORT": str(port)})
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                me = requests.get(f"{base}/bot{TEST_TOKEN}/getMe", timeout=2).json()
                break
            except requests.ConnectionError:
                assert process.poll() is None, "the emulator exited early"
                assert time.monotonic() < deadline, "the emulator did not start"
                time.sleep(0.2)
        assert me["result"]["id"] == 123456789
        assert requests.post(f"{base}/bot{TEST_TOKEN}/nope", timeout=5).status_code == 404
        EmulatorClient(base).send_text(1, "hi")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert any("listening" in line["msg"] for line in lines)
    assert all(line["service"] == "telegram-emulator" for line in lines)
    assert TEST_TOKEN not in stderr
    assert TEST_TOKEN.split(":")[1] not in stderr


def test_oldest_files_are_forgotten_past_the_memory_budget(monkeypatch):
    from local.telegram_emulator import state as state_module

    monkeypatch.setattr(state_module, "MAX_STORED_BYTES", 25)
    store = state_module.EmulatorState()
    first = store.store_file(b"a" * 10, "documents", "bin", "application/octet-stream")
    second = store.store_file(b"b" * 10, "documents", "bin", "application/octet-stream")
    third = store.store_file(b"c" * 10, "documents", "bin", "application/octet-stream")
    assert store.file(first.file_id) is None
    assert store.file_by_path(first.file_path) is None
    assert store.file(second.file_id) == second
    assert store.file_by_path(third.file_path) == third
