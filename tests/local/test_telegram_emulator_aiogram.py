"""The emulator checked against an independent Bot API schema: aiogram's pydantic models.

Every Update the emulator delivers and every answer its Bot API methods give must parse as
the matching aiogram type, the way aiogram's own webhook handler parses them
(`Update.model_validate(..., context={"bot": bot})`), and more strictly than aiogram does:

- missing required fields fail in any mode;
- fields the Bot API does not define fail with `extra="forbid"` (aiogram's models allow them);
- wrongly typed values (`"42"` for an id, `1` for a bool) fail the round trip: the parsed
  object, dumped back to JSON, must equal what the emulator sent. pydantic's `strict=True`
  cannot do this job: aiogram types dates as datetime and relies on lax mode to read the unix
  ints Telegram sends, so strict mode rejects Telegram's own updates.
"""

from __future__ import annotations

import io
import json
import queue

import pytest
import requests
from aiogram import Bot
from aiogram.methods import (
    DeleteWebhook,
    GetFile,
    GetMe,
    GetWebhookInfo,
    SendChatAction,
    SendDocument,
    SendMessage,
    SendPhoto,
    SetWebhook,
    TelegramMethod,
)
from aiogram.methods.base import Response
from aiogram.types import Update
from flask import Flask, request
from PIL import Image

from tests.support.images import sample_image
from tests.support.servers import free_port, serve_wsgi

CHAT = 5150
GROUP = -100777


def _canonical(payload: object) -> str:
    # JSON text, so that 1 and True (equal in Python) still differ.
    return json.dumps(payload, sort_keys=True, ensure_ascii=False)


def _round_trip(parsed, raw: str) -> None:
    dumped = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
    assert _canonical(dumped) == _canonical(json.loads(raw)), "a value parsed only by coercion"


def parse_update(raw: str, bot: Bot) -> Update:
    update = Update.model_validate_json(raw, extra="forbid", context={"bot": bot})
    _round_trip(update, raw)
    return update


def parse_response(method: type[TelegramMethod], raw: str, bot: Bot) -> Response:
    """The whole envelope, its result typed as the method's __returning__ type."""
    response_type = Response[method.__returning__]
    response = response_type.model_validate_json(raw, extra="forbid", context={"bot": bot})
    _round_trip(response, raw)
    return response


class Receiver:
    """A webhook endpoint that keeps the raw bodies it gets."""

    def __init__(self) -> None:
        self.bodies: queue.Queue[str] = queue.Queue()
        self.app = Flask("aiogram-receiver")
        self.app.add_url_rule("/hook", "hook", self._hook, methods=["POST"])

    def _hook(self):
        self.bodies.put(request.get_data(as_text=True))
        return ""

    def next(self) -> str:
        return self.bodies.get(timeout=10)


@pytest.fixture(scope="module")
def receiver():
    receiver = Receiver()
    with serve_wsgi(receiver.app) as base_url:
        receiver.url = f"{base_url}/hook"
        yield receiver


@pytest.fixture(scope="module")
def bot(running):
    # Never used to make a request: the context aiogram's dispatcher binds to each object.
    return Bot(running.token)


class Api:
    """Raw Bot API calls, sent the ways clients send them; answers are raw JSON text."""

    def __init__(self, handle) -> None:
        self.base = f"{handle.base_url}/bot{handle.token}"

    def form(self, method: str, files: dict | None = None, **params) -> requests.Response:
        return requests.post(f"{self.base}/{method}", data=params, files=files, timeout=30)

    def json(self, method: str, **params) -> requests.Response:
        return requests.post(f"{self.base}/{method}", json=params, timeout=30)


@pytest.fixture
def emulator(running, receiver):
    running.reset()
    receiver.bodies = queue.Queue()
    return running


@pytest.fixture
def api(emulator, receiver):
    api = Api(emulator)
    answer = api.form("setWebhook", url=receiver.url, secret_token="aiogram_check")
    assert answer.json() == {"ok": True, "result": True}
    return api


def _png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (20, 130, 60)).save(buffer, format="JPEG")
    return buffer.getvalue()


# Every kind of update the control API builds: (name, call on the handle, what it must hold).
_USER_UPDATES = [
    ("photo", lambda e: e.send_photo(CHAT, sample_image("bus.jpg").read_bytes()), "photo"),
    (
        "photo_caption",
        lambda e: e.send_photo(CHAT, sample_image("zidane.jpg").read_bytes(), caption="what?"),
        "photo",
    ),
    ("photo_tiny_png", lambda e: e.send_photo(CHAT, _png((64, 48))), "photo"),
    ("photo_huge", lambda e: e.send_photo(CHAT, _jpeg((3000, 1000))), "photo"),
    ("photo_in_group", lambda e: e.send_photo(GROUP, _jpeg((400, 300)), caption="x"), "photo"),
    (
        "document",
        lambda e: e.send_document(CHAT, sample_image("bus.jpg").read_bytes(), "bus.jpg"),
        "document",
    ),
    (
        "document_caption_mime",
        lambda e: e.send_document(
            CHAT, b"%PDF-1.4\n", "notes v2.pdf", mime_type="application/pdf", caption="c"
        ),
        "document",
    ),
    ("document_unknown_type", lambda e: e.send_document(CHAT, b"\0\1", "blob"), "document"),
    ("text", lambda e: e.send_text(CHAT, "hello there"), "text"),
    ("text_command", lambda e: e.send_text(CHAT, "/start now"), "text"),
    ("text_unicode", lambda e: e.send_text(CHAT, "привет 👋"), "text"),
    ("text_in_group", lambda e: e.send_text(GROUP, "/help"), "text"),
]


@pytest.mark.parametrize(
    ("send", "content"),
    [pytest.param(send, content, id=name) for name, send, content in _USER_UPDATES],
)
def test_every_update_the_control_api_builds_parses_as_an_aiogram_update(
    emulator, api, receiver, bot, send, content
):
    answer = send(emulator)
    assert answer["webhook_status"] == 200
    update = parse_update(receiver.next(), bot)
    assert update.update_id == answer["update_id"]
    assert update.event_type == "message"
    message = update.message
    assert message.message_id == answer["message_id"]
    assert getattr(message, content)
    assert message.from_user is not None and message.from_user.is_bot is False
    if message.chat.id < 0:
        assert message.chat.type == "group" and message.chat.title
    else:
        assert message.chat.type == "private" and message.chat.id == message.from_user.id
    if message.photo:
        widths = [size.width for size in message.photo]
        assert widths == sorted(widths) and message.photo[-1].file_size


def test_get_me_set_delete_and_get_webhook_info(emulator, receiver, bot):
    api = Api(emulator)
    me = parse_response(GetMe, api.form("getMe").text, bot).result
    assert me.is_bot is True and me.id == 123456789

    answer = api.form("deleteWebhook", drop_pending_updates="true")
    assert parse_response(DeleteWebhook, answer.text, bot).result is True
    info = parse_response(GetWebhookInfo, api.form("getWebhookInfo").text, bot).result
    assert info.url == "" and info.pending_update_count == 0

    answer = api.form(
        "setWebhook",
        files={"certificate": ("cert.pem", b"-----BEGIN CERTIFICATE-----\n")},
        url=receiver.url,
        secret_token="s3cret",
        allowed_updates='["message", "callback_query"]',
        max_connections="9",
        ip_address="127.0.0.1",
    )
    assert parse_response(SetWebhook, answer.text, bot).result is True
    info = parse_response(GetWebhookInfo, api.json("getWebhookInfo").text, bot).result
    assert info.url == receiver.url
    assert info.allowed_updates == ["message", "callback_query"]
    assert info.max_connections == 9 and info.has_custom_certificate is True

    # A webhook nobody listens on: getWebhookInfo reports the last error with its date.
    dead = f"http://127.0.0.1:{free_port()}/hook"
    assert parse_response(SetWebhook, api.json("setWebhook", url=dead).text, bot).result
    assert emulator.send_text(CHAT, "anyone?")["webhook_status"] is None
    info = parse_response(GetWebhookInfo, api.form("getWebhookInfo").text, bot).result
    assert info.last_error_date is not None and info.last_error_message
    assert parse_response(DeleteWebhook, api.json("deleteWebhook").text, bot).result is True


def test_get_file_results_parse_as_files(emulator, api, receiver, bot):
    emulator.send_photo(CHAT, sample_image("zidane.jpg").read_bytes())
    photo = parse_update(receiver.next(), bot).message.photo
    # The largest size and a lazily rendered thumbnail (no bytes made yet).
    for size in (photo[-1], photo[0]):
        file = parse_response(GetFile, api.form("getFile", file_id=size.file_id).text, bot).result
        assert file.file_id == size.file_id and file.file_path and file.file_size
    emulator.send_document(CHAT, b"plain text", "note.txt")
    document = parse_update(receiver.next(), bot).message.document
    answer = api.json("getFile", file_id=document.file_id)
    assert parse_response(GetFile, answer.text, bot).result.file_size == len(b"plain text")


def test_send_message_results_parse_as_messages(emulator, api, bot):
    sent = emulator.send_text(CHAT, "hi bot")
    plain = parse_response(SendMessage, api.form("sendMessage", chat_id=CHAT, text="a").text, bot)
    assert plain.result.text == "a" and plain.result.from_user.is_bot is True
    answer = api.json(
        "sendMessage",
        chat_id=CHAT,
        text="<b>received</b>, detecting…",
        parse_mode="HTML",
        reply_parameters={"message_id": sent["message_id"]},
    )
    message = parse_response(SendMessage, answer.text, bot).result
    assert message.reply_to_message.message_id == sent["message_id"]
    assert message.reply_to_message.text == "hi bot"
    answer = api.form("sendMessage", chat_id=GROUP, text="/done", reply_to_message_id="999")
    assert parse_response(SendMessage, answer.text, bot).result.chat.type == "group"


def test_send_photo_results_parse_as_messages(emulator, api, bot):
    sent = emulator.send_photo(CHAT, _jpeg((500, 400)))
    answer = api.form(
        "sendPhoto",
        files={"photo": ("photo.jpg", sample_image("zidane.jpg").read_bytes(), "image/jpeg")},
        chat_id=str(CHAT),
        caption="person: 2\ntie: 1",
        parse_mode="Markdown",
        reply_parameters=json.dumps({"message_id": sent["message_id"]}),
    )
    message = parse_response(SendPhoto, answer.text, bot).result
    assert message.caption == "person: 2\ntie: 1" and len(message.photo) >= 2
    assert message.reply_to_message.photo
    again = api.form("sendPhoto", chat_id=CHAT, photo=message.photo[-1].file_id)
    assert parse_response(SendPhoto, again.text, bot).result.photo[-1].width == 1280


def test_send_document_results_parse_as_messages(emulator, api, bot):
    sent = emulator.send_text(CHAT, "send me the report")
    answer = api.form(
        "sendDocument",
        files={"document": ("report.txt", b"detections\n", "text/plain")},
        chat_id=str(CHAT),
        caption="the report",
        reply_parameters=json.dumps({"message_id": sent["message_id"]}),
    )
    message = parse_response(SendDocument, answer.text, bot).result
    assert message.document.file_name == "report.txt"
    assert message.caption == "the report"
    assert message.reply_to_message.message_id == sent["message_id"]
    again = api.json("sendDocument", chat_id=CHAT, document=message.document.file_id)
    assert parse_response(SendDocument, again.text, bot).result.document.file_name


def test_send_chat_action_result_is_a_bool(api, bot):
    answer = api.form("sendChatAction", chat_id=CHAT, action="upload_photo")
    assert parse_response(SendChatAction, answer.text, bot).result is True


def test_error_answers_parse_as_failed_responses(emulator, api, bot):
    def failed(method, answer, code):
        assert answer.status_code == code
        response = parse_response(method, answer.text, bot)
        assert response.ok is False and response.result is None
        assert response.error_code == code and response.description
        return response

    failed(SendMessage, api.form("sendMessage", chat_id=CHAT, text=" "), 400)
    failed(GetFile, api.form("getFile", file_id="nope"), 400)
    wrong = requests.post(
        f"{emulator.base_url}/bot123456789:WRONG-token-0123456789/getMe", timeout=10
    )
    failed(GetMe, wrong, 401)
    failed(SendChatAction, api.form("sendSticker", chat_id=CHAT), 404)

    emulator.fault("sendPhoto", 429, retry_after=7)
    flood = failed(SendPhoto, api.form("sendPhoto", chat_id=CHAT, photo="x"), 429)
    assert flood.parameters is not None and flood.parameters.retry_after == 7
    emulator.fault("getMe", 500)
    assert failed(GetMe, api.form("getMe"), 500).parameters is None
