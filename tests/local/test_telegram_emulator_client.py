"""EmulatorClient against the real emulator app: each method reaches its endpoint and what
it sends arrives as the emulator understood it."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
import requests
from PIL import Image
from telebot.apihelper import ApiTelegramException

from local.config import ROOT
from local.servers import free_port
from local.telegram_emulator.client import EmulatorClient
from tests.support.images import sample_image

CHAT = 4242


@pytest.fixture
def client(running):
    """A plain client (not the test handle, which is one too) on the module's emulator."""
    running.reset()
    return EmulatorClient(running.base_url + "/")  # a trailing slash must not matter


def user_message(running, answer: dict) -> dict:
    return running.app.extensions["telegram_emulator"].user_message(CHAT, answer["message_id"])


def test_importing_the_client_loads_no_server_side():
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, local.telegram_emulator.client; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'werkzeug') "
            "or m.startswith('local.telegram_emulator.') and not m.endswith('.client')))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"


def test_send_photo_with_caption_is_a_user_photo(client, running):
    original = sample_image("bus.jpg").read_bytes()
    answer = client.send_photo(CHAT, original, caption="what is here?")
    assert answer["webhook_status"] is None  # no webhook registered
    message = user_message(running, answer)
    assert message["caption"] == "what is here?"
    largest = message["photo"][-1]
    assert client.file(largest["file_id"]) == original


def test_send_photo_without_caption_sends_none(client, running):
    answer = client.send_photo(CHAT, sample_image("zidane.jpg").read_bytes())
    assert "caption" not in user_message(running, answer)


def test_send_document_passes_name_type_and_caption(client, running):
    answer = client.send_document(
        CHAT, b"%PDF-1.4\n", "notes v2.pdf", mime_type="application/pdf", caption="c"
    )
    message = user_message(running, answer)
    assert message["caption"] == "c"
    document = message["document"]
    assert (document["file_name"], document["mime_type"]) == ("notes v2.pdf", "application/pdf")
    assert client.file(document["file_id"]) == b"%PDF-1.4\n"


def test_send_text_and_send_update_get_fresh_update_ids(client, running):
    first = client.send_text(CHAT, "hello")
    assert user_message(running, first)["text"] == "hello"
    second = client.send_update({"message": {"message_id": 1, "text": "raw"}})
    assert second["update_id"] > first["update_id"]
    assert client.send_update({"update_id": 7})["update_id"] == 7


def test_messages_and_sent_file_show_what_the_bot_sent(client, bot):
    assert client.messages(CHAT) == []
    image = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(image, format="JPEG")
    bot.send_message(CHAT, "hi")
    bot.send_document(CHAT, image.getvalue(), visible_file_name="a.jpg")
    text, document = client.messages(CHAT)
    assert (text["method"], text["text"]) == ("sendMessage", "hi")
    assert client.sent_file(document) == image.getvalue()
    with pytest.raises(ValueError):
        client.sent_file(text)


def test_fault_arms_and_clear_faults_disarms(client, bot):
    client.fault("sendMessage", 429, count=2, retry_after=4, description="slow down")
    with pytest.raises(ApiTelegramException) as caught:
        bot.send_message(CHAT, "one")
    assert caught.value.error_code == 429
    assert caught.value.result_json["parameters"]["retry_after"] == 4
    assert "slow down" in caught.value.description
    client.clear_faults()
    assert bot.send_message(CHAT, "two").text == "two"


def test_reset_forgets_messages_and_faults(client, bot):
    bot.send_message(CHAT, "before")
    client.fault("sendMessage", 500)
    client.reset()
    assert client.messages(CHAT) == []
    assert bot.send_message(CHAT, "after").text == "after"


def test_webhook_and_deliveries(client, bot):
    bot.delete_webhook()
    assert client.webhook() is None
    nobody = f"http://127.0.0.1:{free_port()}/hook"  # a webhook that refuses connections
    bot.set_webhook(nobody)
    assert client.webhook()["url"] == nobody
    answer = client.send_text(CHAT, "anyone?")
    assert answer["webhook_status"] is None and answer["webhook_error"]
    stats = client.deliveries()
    assert (stats["total"], stats["by_status"]) == (1, {"error": 1})
    assert stats["recent"][0]["update_id"] == answer["update_id"]
    bot.delete_webhook()


def test_an_error_answer_raises_with_the_emulators_reason(client):
    with pytest.raises(requests.HTTPError) as caught:
        client.send_photo(CHAT, b"plain text")
    assert caught.value.response.status_code == 400
    assert "document" in str(caught.value)  # the emulator says to send it as a document


def test_a_given_session_carries_every_call(running):
    seen: list[str] = []
    session = requests.Session()
    session.hooks["response"].append(lambda response, **_: seen.append(response.request.method))
    client = EmulatorClient(running.base_url, session=session)
    client.reset()
    client.send_text(CHAT, "hi")
    client.messages(CHAT)
    client.clear_faults()
    assert seen == ["POST", "POST", "GET", "DELETE"]
