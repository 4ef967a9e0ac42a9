"""The control API: updates delivered to a real webhook receiver, in Telegram's shapes."""

from __future__ import annotations

import io
import queue

import pytest
import requests
import telebot
from flask import Flask, request
from PIL import Image

from tests.support.emulator import telebot_pointed_at
from tests.support.images import sample_image
from tests.support.servers import serve_wsgi

CHAT = 777
SECRET = "receiver-secret_42"


class Receiver:
    """A tiny webhook endpoint that records what it gets and answers a chosen status."""

    def __init__(self) -> None:
        self.received: queue.Queue = queue.Queue()
        self.status = 200
        self.app = Flask("receiver")
        self.app.add_url_rule("/hook", "hook", self._hook, methods=["POST"])

    def _hook(self):
        self.received.put((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), request.json))
        return "", self.status

    def next(self) -> tuple[str | None, dict]:
        return self.received.get(timeout=5)


@pytest.fixture(scope="module")
def receiver():
    receiver = Receiver()
    with serve_wsgi(receiver.app) as base_url:
        receiver.url = f"{base_url}/hook"
        yield receiver


@pytest.fixture
def emulator(running, receiver):
    """The module's emulator, reset, with the receiver registered as its webhook."""
    running.reset()
    receiver.status = 200
    receiver.received = queue.Queue()  # nothing left over from an earlier test
    with telebot_pointed_at(running):
        bot = telebot.TeleBot(running.token, threaded=False)
        bot.set_webhook(receiver.url, secret_token=SECRET, allowed_updates=["message"])
    return running


def test_photo_update_has_several_sizes_largest_last(emulator, receiver):
    original = sample_image("bus.jpg").read_bytes()
    answer = emulator.send_photo(CHAT, original, caption="what is here?")
    assert answer["webhook_status"] == 200
    secret, update = receiver.next()
    assert secret == SECRET
    assert update["update_id"] == answer["update_id"]
    message = update["message"]
    assert message["message_id"] == answer["message_id"]
    assert message["chat"] == {
        "id": CHAT,
        "type": "private",
        "first_name": "Test",
        "last_name": f"User {CHAT}",
        "username": f"test_user_{CHAT}",
    }
    assert message["from"]["id"] == CHAT
    assert message["from"]["is_bot"] is False
    assert isinstance(message["date"], int)
    assert message["caption"] == "what is here?"
    sizes = message["photo"]
    assert len(sizes) >= 3
    assert [s["width"] for s in sizes] == sorted(s["width"] for s in sizes)
    assert (sizes[-1]["width"], sizes[-1]["height"]) == Image.open(io.BytesIO(original)).size
    assert sizes[-1]["file_size"] == len(original)
    assert {"file_id", "file_unique_id", "width", "height"} <= set(sizes[0])
    assert len({s["file_id"] for s in sizes}) == len(sizes)


def test_thumbnails_are_made_when_downloaded_with_the_sizes_announced(emulator, receiver):
    emulator.send_photo(CHAT, sample_image("zidane.jpg").read_bytes())
    _, update = receiver.next()
    state = emulator.app.extensions["telegram_emulator"]
    thumbnails = update["message"]["photo"][:-1]
    assert thumbnails
    # Nothing rendered yet: polybot only ever fetches the largest size.
    assert all(state.file(s["file_id"]).content is None for s in thumbnails)
    with telebot_pointed_at(emulator):
        bot = telebot.TeleBot(emulator.token, threaded=False)
        for size in thumbnails:
            info = bot.get_file(size["file_id"])
            image = Image.open(io.BytesIO(bot.download_file(info.file_path)))
            assert image.format == "JPEG"
            assert image.size == (size["width"], size["height"])
            assert info.file_size == len(state.file(size["file_id"]).content)


def test_large_photos_are_scaled_down_to_2560(emulator, receiver):
    buffer = io.BytesIO()
    Image.new("RGB", (4000, 1000), "red").save(buffer, format="PNG")
    emulator.send_photo(CHAT, buffer.getvalue())
    _, update = receiver.next()
    largest = update["message"]["photo"][-1]
    assert (largest["width"], largest["height"]) == (2560, 640)


def test_document_update_fields(emulator, receiver):
    answer = emulator.send_document(CHAT, b"%PDF-1.4 tiny", "report.pdf")
    assert answer["webhook_status"] == 200
    _, update = receiver.next()
    document = update["message"]["document"]
    assert document["file_name"] == "report.pdf"
    assert document["mime_type"] == "application/pdf"
    assert document["file_size"] == len(b"%PDF-1.4 tiny")
    assert document["file_id"] and document["file_unique_id"]
    assert "photo" not in update["message"]


def test_document_mime_type_can_lie(emulator, receiver):
    emulator.send_document(CHAT, b"definitely not a jpeg", "cat.jpg", mime_type="image/jpeg")
    _, update = receiver.next()
    assert update["message"]["document"]["mime_type"] == "image/jpeg"


def test_text_command_has_a_bot_command_entity(emulator, receiver):
    emulator.send_text(CHAT, "/start please")
    _, update = receiver.next()
    assert update["message"]["text"] == "/start please"
    assert update["message"]["entities"] == [{"offset": 0, "length": 6, "type": "bot_command"}]
    emulator.send_text(CHAT, "just words")
    _, update = receiver.next()
    assert "entities" not in update["message"]


def test_raw_update_is_delivered_as_is(emulator, receiver):
    sticker = {"update_id": 5, "message": {"message_id": 1, "sticker": {"file_id": "x"}}}
    answer = emulator.send_update(sticker)
    assert answer["update_id"] == 5
    assert receiver.next() == (SECRET, sticker)
    answer = emulator.send_update({"message": {"message_id": 2, "text": "no id"}})
    _, update = receiver.next()
    assert update["update_id"] == answer["update_id"]
    assert isinstance(answer["update_id"], int)


def test_update_ids_increase_and_survive_a_reset(emulator, receiver):
    first = emulator.send_text(CHAT, "one")["update_id"]
    emulator.reset()
    second = emulator.send_text(CHAT, "two")["update_id"]
    assert second > first
    assert emulator.webhook()["url"] == receiver.url  # reset keeps the webhook


def test_updates_outside_allowed_updates_are_not_delivered(emulator, receiver):
    answer = emulator.send_update({"edited_message": {"message_id": 1, "text": "edit"}})
    assert answer["webhook_status"] is None
    assert "allowed_updates" in answer["webhook_error"]
    assert receiver.received.empty()


def test_webhook_status_reflects_the_receivers_answer(emulator, receiver):
    receiver.status = 403
    assert emulator.send_text(CHAT, "hi")["webhook_status"] == 403
    receiver.status = 500
    assert emulator.send_text(CHAT, "hi")["webhook_status"] == 500
    stats = emulator.deliveries()
    assert stats["total"] == 2
    assert stats["by_status"] == {"403": 1, "500": 1}
    with telebot_pointed_at(emulator):
        info = telebot.TeleBot(emulator.token).get_webhook_info()
    assert "500" in info.last_error_message


def test_no_webhook_means_null_status(emulator):
    with telebot_pointed_at(emulator):
        telebot.TeleBot(emulator.token).delete_webhook()
    assert emulator.send_text(CHAT, "anyone?")["webhook_status"] is None


def test_non_image_bytes_to_photo_are_a_400(emulator, receiver):
    response = requests.post(
        f"{emulator.base_url}/emulator/chats/{CHAT}/photo", data=b"plain text", timeout=10
    )
    assert response.status_code == 400
    assert "document" in response.json()["error"]
    assert receiver.received.empty()


@pytest.mark.parametrize(
    ("path", "kwargs"),
    [
        (f"/emulator/chats/{CHAT}/photo", {"data": b""}),
        (f"/emulator/chats/{CHAT}/document", {"data": b"x"}),
        (f"/emulator/chats/{CHAT}/text", {"json": {"text": ""}}),
        (f"/emulator/chats/{CHAT}/text", {"data": b"not json"}),
        ("/emulator/updates", {"json": [1, 2]}),
        ("/emulator/faults", {"json": {"method": "sendPhoto", "status": 200}}),
        ("/emulator/faults", {"json": {"method": "sendPhoto", "status": 429, "count": 0}}),
    ],
)
def test_bad_control_requests_get_a_json_400(emulator, path, kwargs):
    response = requests.post(f"{emulator.base_url}{path}", timeout=10, **kwargs)
    assert response.status_code == 400
    assert response.json()["error"]


def test_messages_of_an_unknown_chat_are_empty_and_files_404(emulator):
    assert emulator.messages(99999) == []
    assert requests.get(f"{emulator.base_url}/emulator/files/nope", timeout=10).status_code == 404
