"""The emulator's Bot API, driven by the unmodified pyTelegramBotAPI client over real HTTP."""

from __future__ import annotations

import io

import pytest
import requests
import telebot
from PIL import Image
from telebot import types
from telebot.apihelper import ApiTelegramException

from tests.support.images import sample_image

CHAT = 4242


def test_get_me_answers_the_bot_of_the_token(bot):
    me = bot.get_me()
    assert me.id == 123456789
    assert me.is_bot is True
    assert me.username


def test_wrong_token_is_unauthorized(emulator, bot):
    with pytest.raises(ApiTelegramException) as caught:
        telebot.TeleBot("123456789:WRONG-token-0123456789abcdef").get_me()
    assert caught.value.error_code == 401
    assert caught.value.result_json == {
        "ok": False,
        "error_code": 401,
        "description": "Unauthorized",
    }


def test_unknown_method_is_not_found(emulator):
    response = requests.post(f"{emulator.base_url}/bot{emulator.token}/sendSticker", timeout=10)
    assert response.status_code == 404
    assert response.json()["description"] == "Not Found: method not found"


def test_set_webhook_is_remembered_without_revealing_the_secret(emulator, bot):
    assert bot.set_webhook(
        "https://bot.example.com/telegram/webhook",
        secret_token="s3cret_token-1",
        allowed_updates=["message"],
        max_connections=7,
        certificate=io.BytesIO(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
    )
    info = bot.get_webhook_info()
    assert info.url == "https://bot.example.com/telegram/webhook"
    assert info.max_connections == 7
    assert info.allowed_updates == ["message"]
    assert info.has_custom_certificate is True
    view = emulator.webhook()
    assert view == {
        "url": "https://bot.example.com/telegram/webhook",
        "has_secret": True,
        "allowed_updates": ["message"],
        "max_connections": 7,
        "has_certificate": True,
        "ip_address": None,
    }
    assert "s3cret" not in str(view)
    assert bot.delete_webhook()
    assert emulator.webhook() is None
    assert bot.get_webhook_info().url == ""


def test_set_webhook_rejects_a_bad_secret_token(bot):
    with pytest.raises(ApiTelegramException) as caught:
        bot.set_webhook("https://bot.example.com/hook", secret_token="not allowed!")
    assert caught.value.error_code == 400
    assert "secret token" in caught.value.description


def test_photo_round_trip_through_get_file_and_download(emulator, bot):
    original = sample_image("bus.jpg").read_bytes()
    sent = emulator.send_photo(CHAT, original)
    assert sent["webhook_status"] is None  # no webhook registered in this module
    # The photo a user sent is reachable through getFile + download, byte for byte.
    largest_id = emulator.app.extensions["telegram_emulator"].user_message(
        CHAT, sent["message_id"]
    )["photo"][-1]["file_id"]
    info = bot.get_file(largest_id)
    assert info.file_size == len(original)
    assert info.file_path.endswith(".jpg")
    assert bot.download_file(info.file_path) == original


def test_send_message_is_recorded_with_its_reply(emulator, bot):
    sent = emulator.send_text(CHAT, "hello")
    message = bot.send_message(
        CHAT,
        "received, detecting…",
        reply_parameters=types.ReplyParameters(message_id=sent["message_id"]),
    )
    assert message.text == "received, detecting…"
    assert message.from_user.is_bot is True
    assert message.chat.id == CHAT
    assert message.reply_to_message.message_id == sent["message_id"]
    assert emulator.messages(CHAT) == [
        {
            "method": "sendMessage",
            "message_id": message.message_id,
            "date": message.date,
            "reply_to_message_id": sent["message_id"],
            "text": "received, detecting…",
        }
    ]


def test_send_message_rejects_empty_and_too_long_text(bot):
    for text, reason in (("   ", "message text is empty"), ("x" * 4097, "message is too long")):
        with pytest.raises(ApiTelegramException) as caught:
            bot.send_message(CHAT, text)
        assert caught.value.error_code == 400
        assert caught.value.description == f"Bad Request: {reason}"


def test_send_photo_with_bytes_and_caption(emulator, bot):
    data = sample_image("zidane.jpg").read_bytes()
    message = bot.send_photo(CHAT, data, caption="person: 2\ntie: 1", reply_to_message_id=5)
    assert message.caption == "person: 2\ntie: 1"
    assert len(message.photo) >= 2
    widths = [size.width for size in message.photo]
    assert widths == sorted(widths)
    [recorded] = emulator.messages(CHAT)
    assert recorded["method"] == "sendPhoto"
    assert recorded["caption"] == "person: 2\ntie: 1"
    assert recorded["reply_to_message_id"] == 5
    served = requests.get(f"{emulator.base_url}{recorded['photo_url']}", timeout=10)
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(served.content)).size == (1280, 720)


def test_send_photo_by_file_id_and_refuses_unknown_ids(emulator, bot):
    first = bot.send_photo(CHAT, sample_image("zidane.jpg").read_bytes())
    again = bot.send_photo(CHAT, first.photo[-1].file_id, caption="again")
    assert again.photo[-1].width == 1280
    with pytest.raises(ApiTelegramException) as caught:
        bot.send_photo(CHAT, "no-such-file-id")
    assert caught.value.description == "Bad Request: wrong file identifier/HTTP URL specified"


def test_send_photo_refuses_bytes_that_are_not_an_image(bot):
    with pytest.raises(ApiTelegramException) as caught:
        bot.send_photo(CHAT, io.BytesIO(b"not an image at all"))
    assert caught.value.description == "Bad Request: IMAGE_PROCESS_FAILED"


def test_send_chat_action(bot):
    assert bot.send_chat_action(CHAT, "upload_photo") is True


def test_429_fault_carries_retry_after(emulator, bot):
    emulator.fault("sendPhoto", 429, count=2, retry_after=3)
    data = sample_image("zidane.jpg").read_bytes()
    for _ in range(2):
        with pytest.raises(ApiTelegramException) as caught:
            bot.send_photo(CHAT, data)
        assert caught.value.error_code == 429
        assert caught.value.result_json["parameters"]["retry_after"] == 3
        assert caught.value.description == "Too Many Requests: retry after 3"
    assert bot.send_photo(CHAT, data).photo  # the third call goes through
    assert len(emulator.messages(CHAT)) == 1


def test_faults_queue_in_order_and_can_be_cleared(emulator, bot):
    emulator.fault("sendMessage", 500)
    emulator.fault("sendMessage", 502)
    emulator.fault("getFile", 500, count=5)
    codes = []
    for _ in range(2):
        with pytest.raises(ApiTelegramException) as caught:
            bot.send_message(CHAT, "hi")
        codes.append(caught.value.error_code)
    assert codes == [500, 502]
    emulator.clear_faults()
    assert bot.send_message(CHAT, "hi").text == "hi"
    with pytest.raises(ApiTelegramException) as caught:
        bot.get_file("unknown")
    assert caught.value.error_code == 400  # the getFile fault was cleared too


def test_download_fault_and_unknown_path(emulator, bot):
    message = bot.send_photo(CHAT, sample_image("zidane.jpg").read_bytes())
    path = bot.get_file(message.photo[0].file_id).file_path
    emulator.fault("download", 502)
    with pytest.raises(telebot.apihelper.ApiHTTPException):
        bot.download_file(path)
    assert bot.download_file(path)[:2] == b"\xff\xd8"
    with pytest.raises(telebot.apihelper.ApiHTTPException):
        bot.download_file("photos/no-such-file.jpg")


def test_get_file_refuses_a_file_over_20_mb(emulator, bot):
    sent = emulator.send_document(CHAT, b"\0" * (20 * 1024 * 1024 + 1), "huge.jpg")
    document = emulator.app.extensions["telegram_emulator"].user_message(CHAT, sent["message_id"])[
        "document"
    ]
    with pytest.raises(ApiTelegramException) as caught:
        bot.get_file(document["file_id"])
    assert caught.value.error_code == 400
    assert caught.value.description == "Bad Request: file is too big"


def test_params_are_accepted_as_a_json_body(emulator):
    response = requests.post(
        f"{emulator.base_url}/bot{emulator.token}/sendMessage",
        json={"chat_id": CHAT, "text": "from JSON", "reply_parameters": {"message_id": 9}},
        timeout=10,
    )
    body = response.json()
    assert body["ok"] is True
    assert body["result"]["text"] == "from JSON"
    assert emulator.messages(CHAT)[-1]["reply_to_message_id"] == 9
