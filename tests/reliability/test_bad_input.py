"""Bad input against the running local stack: a clear reply or a clear HTTP error, never a crash.

One honcho-run stack for the whole module. Each case talks to its own chat; at the end an
ordinary bus.jpg must still be answered and every process of the stack still be running.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import pytest
import requests

from common.contracts import FAILED, FailureReason, original_key
from polybot import replies
from polybot.clients import derive_webhook_secret
from tests.reliability.support import samples
from tests.reliability.support.updates import bot_token, deliver, update, upload_photo
from tests.reliability.support.updates import user_message as message
from tests.support.answers import answer, chat_predictions
from tests.support.images import sample_image

pytestmark = pytest.mark.slow

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_chats = itertools.count(81001)
_ids = itertools.count(1_800_000_000 + (time.time_ns() // 1000) % 50_000_000)
ANSWERED_COUNTS = {"person": 2}  # the finished item of "results-already-answered"


@dataclass
class Ctx:
    stack: object
    token: str
    secret: str
    outputs: dict
    sizes: list  # PhotoSizes of an uploaded bus.jpg, for raw updates

    @property
    def webhook_url(self) -> str:
        return f"{self.stack.cfg.polybot_url}/telegram/webhook"

    def post_webhook(self, **kwargs) -> requests.Response:
        headers = {SECRET_HEADER: self.secret, **kwargs.pop("headers", {})}
        return requests.post(self.webhook_url, headers=headers, timeout=30, **kwargs)

    def results(self, method: str = "POST", **params) -> requests.Response:
        url = f"{self.stack.cfg.polybot_url}/results"
        return requests.request(method, url, params=params, timeout=30)


@pytest.fixture(scope="module")
def ctx(shared_stack):
    cfg = shared_stack.cfg
    token = bot_token(cfg)
    outputs = shared_stack.outputs()
    sizes = upload_photo(cfg, token, sample_image("bus.jpg").read_bytes())
    return Ctx(shared_stack, token, derive_webhook_secret(token), outputs, sizes)


# -- actions: each sends one bad input and returns the HTTP status it got ------------------
def document(name: str):
    factory, filename, mime = samples.IMAGES[name]

    def act(ctx: Ctx, chat: int) -> int:
        return ctx.stack.send_document(chat, factory(), filename, mime_type=mime)["webhook_status"]

    return act


def doc_bytes(data: bytes, filename: str, mime: str | None = None):
    def act(ctx: Ctx, chat: int) -> int:
        params = {"mime_type": mime} if mime else {}
        return ctx.stack.send_document(chat, data, filename, **params)["webhook_status"]

    return act


def raw(**kinds):
    """A raw update; the message's chat is the case's chat (filled in here)."""

    def act(ctx: Ctx, chat: int) -> int:
        built = {}
        for kind, content in kinds.items():
            content = content(ctx) if callable(content) else content
            built[kind] = message(chat, next(_ids) % 100_000, **content) if content else content
        return deliver(ctx.stack.cfg, update(next(_ids), **built))["webhook_status"]

    return act


def direct(**kinds):
    """Straight to polybot's webhook (with the secret): kinds the emulator, like Telegram,
    never delivers because polybot registers allowed_updates=["message"]."""

    def act(ctx: Ctx, chat: int) -> int:
        built = {
            kind: message(chat, 1, **content) if kind != "channel_post" else content
            for kind, content in kinds.items()
        }
        return ctx.post_webhook(json=update(next(_ids), **built)).status_code

    return act


def photo_with_caption(ctx: Ctx, chat: int) -> int:
    caption = ("Ünïcödé ✓ 🚌 שלום мир 你好 " * 40)[:1024]
    return ctx.stack.send_photo(chat, sample_image("bus.jpg").read_bytes(), caption=caption)[
        "webhook_status"
    ]


def album(ctx: Ctx, chat: int) -> int:
    group = str(next(_ids))
    statuses = {
        deliver(
            ctx.stack.cfg,
            update(next(_ids), message=message(chat, n, photo=ctx.sizes, media_group_id=group)),
        )["webhook_status"]
        for n in (1, 2, 3)
    }
    return statuses.pop() if len(statuses) == 1 else -1


def exif_rotated_photo(ctx: Ctx, chat: int) -> int:
    return ctx.stack.send_photo(chat, samples.exif_rotated())["webhook_status"]


def channel_post(ctx: Ctx, chat: int) -> int:
    post = {"message_id": 1, "chat": {"id": -100 - chat, "type": "channel"}, "date": 0}
    return deliver(ctx.stack.cfg, update(next(_ids), channel_post={**post, "photo": ctx.sizes}))[
        "webhook_status"
    ]


def no_message(ctx: Ctx, chat: int) -> int:
    return deliver(ctx.stack.cfg, update(next(_ids)))["webhook_status"]


def body(data, content_type: str = "application/json"):
    def act(ctx: Ctx, chat: int) -> int:
        payload = data(ctx, chat) if callable(data) else data
        return ctx.post_webhook(data=payload, headers={"Content-Type": content_type}).status_code

    return act


def valid_update_json(ctx: Ctx, chat: int) -> bytes:
    import json

    return json.dumps(update(next(_ids), message=message(chat, 1, text="hi"))).encode()


def results(method: str = "POST", pid=None, **params):
    def act(ctx: Ctx, chat: int) -> int:
        if pid == "answered":
            # The first call answers the user; the second must answer 200 and send nothing.
            answered = finished_item(ctx, chat)
            assert ctx.results(predictionId=answered).status_code == 200
            return ctx.results(predictionId=answered).status_code
        if pid == "pending":
            return ctx.results(predictionId=finished_item(ctx, chat, "PENDING")).status_code
        query = dict(params)
        if pid is not None:
            query["predictionId"] = pid
        return ctx.results(method, **query).status_code

    return act


def finished_item(ctx: Ctx, chat: int, status: str = "DONE") -> str:
    pid = str(uuid.uuid4())
    ctx.stack.table().put_item(
        Item={
            "prediction_id": pid,
            "chat_id": chat,
            "status": status,
            "original_key": original_key(chat, pid),
            "counts": {name: Decimal(n) for name, n in ANSWERED_COUNTS.items()},
            "labels": [],
        }
    )
    return pid


# expect: "annotated" (exactly one sendPhoto), "as document" (the annotated image is past
# sendPhoto's limits, e.g. an aspect ratio over 20, so it comes as exactly one sendDocument
# with the caption, and no photo), ("reply", text) (exactly one message with polybot's text,
# no photo), ("reply", FailureReason) (the worker failed the chat's item for that reason, and
# exactly one message is what polybot words of that item), "silent" (nothing sent to the
# chat), plus the HTTP status the input must get.
NOT_A_TELEGRAM_PHOTO = {"very-wide", "very-tall"}  # 8000x24 and 24x8000: ratio 333
CASES = [
    *[
        (name, document(name), 200, "as document" if name in NOT_A_TELEGRAM_PHOTO else "annotated")
        for name in samples.IMAGES
    ],
    ("exif-rotated-photo", exif_rotated_photo, 200, "annotated"),
    (
        "pixel-bomb-dimensions",
        doc_bytes(samples.pixel_bomb(), "bomb.png"),
        200,
        ("reply", FailureReason.TOO_MANY_PIXELS),
    ),
    (
        "truncated-jpeg",
        doc_bytes(samples.truncated_jpeg(), "cut.jpg"),
        200,
        ("reply", FailureReason.DAMAGED),
    ),
    (
        "zero-bytes-file",  # the emulator (like Telegram) refuses empty uploads: a raw update
        raw(
            message=lambda ctx: {
                "document": {
                    "file_id": "AgAC-empty",
                    "file_unique_id": "e",
                    "file_name": "empty.jpg",
                    "mime_type": "image/jpeg",
                    "file_size": 0,
                }
            }
        ),
        200,
        ("reply", replies.RESEND),
    ),
    (
        "text-named-jpg",
        doc_bytes(b"just some text\n" * 20, "notes.jpg"),
        200,
        ("reply", FailureReason.NOT_AN_IMAGE),
    ),
    (
        "html-named-jpg",
        doc_bytes(b"<!doctype html><h1>hi</h1>", "page.jpg"),
        200,
        ("reply", FailureReason.NOT_AN_IMAGE),
    ),
    (
        "pdf-claiming-image-png",
        doc_bytes(b"%PDF-1.4\n%%EOF", "x.png", "image/png"),
        200,
        ("reply", FailureReason.NOT_AN_IMAGE),
    ),
    (
        "jpeg-claiming-octet-stream",
        doc_bytes(sample_image("bus.jpg").read_bytes(), "bus.bin", "application/octet-stream"),
        200,
        ("reply", replies.NOT_AN_IMAGE),
    ),
    ("text", raw(message={"text": "hello"}), 200, ("reply", replies.HELP)),
    (
        "command-start",
        raw(
            message={
                "text": "/start",
                "entities": [{"offset": 0, "length": 6, "type": "bot_command"}],
            }
        ),
        200,
        ("reply", replies.HELP),
    ),
    (
        "sticker",
        raw(
            message={
                "sticker": {
                    "file_id": "s",
                    "file_unique_id": "s",
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                }
            }
        ),
        200,
        ("reply", replies.UNSUPPORTED),
    ),
    (
        "voice",
        raw(message={"voice": {"file_id": "v", "file_unique_id": "v", "duration": 3}}),
        200,
        ("reply", replies.UNSUPPORTED),
    ),
    (
        "video",
        raw(
            message={
                "video": {
                    "file_id": "w",
                    "file_unique_id": "w",
                    "width": 640,
                    "height": 480,
                    "duration": 3,
                }
            }
        ),
        200,
        ("reply", replies.UNSUPPORTED),
    ),
    (
        "location",
        raw(message={"location": {"latitude": 32.08, "longitude": 34.78}}),
        200,
        ("reply", replies.UNSUPPORTED),
    ),
    ("album-of-3-photos", album, 200, "annotated x3"),
    ("photo-long-unicode-caption", photo_with_caption, 200, "annotated"),
    ("edited-message", direct(edited_message={"text": "edited"}), 200, ("reply", replies.EDITED)),
    ("edited-message-via-telegram", raw(edited_message={"text": "edited"}), None, "silent"),
    (
        "channel-post",
        direct(channel_post={"message_id": 1, "chat": {"id": -1001, "type": "channel"}}),
        200,
        "silent",
    ),
    ("channel-post-via-telegram", channel_post, None, "silent"),
    ("update-without-message", direct(), 200, "silent"),
    ("update-without-message-via-telegram", no_message, None, "silent"),
    ("body-not-json", body(b"this is not json{"), 400, "silent"),
    ("body-json-array", body(b"[1, 2, 3]"), 400, "silent"),
    ("body-json-without-update-id", body(b'{"message": {"text": "hi"}}'), 400, "silent"),
    ("body-update-id-string", body(b'{"update_id": "7"}'), 400, "silent"),
    ("body-huge-2mib", body(b'{"update_id": 1, "x": "' + b"a" * (2 << 20) + b'"}'), 413, "silent"),
    (
        "body-wrong-content-type",
        body(valid_update_json, "text/plain"),
        200,
        ("reply", replies.HELP),
    ),
    ("results-missing-id", results(), 400, "silent"),
    ("results-malformed-id", results(pid="../../etc/passwd"), 400, "silent"),
    ("results-uuid1-id", results(pid=str(uuid.uuid1())), 400, "silent"),
    ("results-unknown-id", results(pid=str(uuid.uuid4())), 404, "silent"),
    ("results-not-finished", results(pid="pending"), 409, "silent"),
    (
        "results-already-answered",
        results(pid="answered"),
        200,
        ("reply", replies.caption(ANSWERED_COUNTS)),
    ),
    ("results-wrong-method-get", results("GET", pid=str(uuid.uuid4())), 405, "silent"),
    ("results-wrong-method-put", results("PUT", pid=str(uuid.uuid4())), 405, "silent"),
]


def expected_text(stack, chat: int, want: str | FailureReason) -> str | None:
    """polybot's text for a ("reply", want) case; for a FailureReason, what polybot words of
    the chat's failed item (None until the worker failed it), which must fail for `want`."""
    if not isinstance(want, FailureReason):  # a StrEnum: a str too, so asked first
        return want
    failed = [p for p in chat_predictions(stack.table(), chat) if p.status == FAILED]
    if not failed:
        return None
    [prediction] = failed
    assert prediction.failure and prediction.failure.reason is want, prediction
    return answer(prediction)


def texts_of(messages: Iterable[dict]) -> list[str]:
    return [m.get("text") or m.get("caption") or "" for m in messages]


def settle(stack, chat: int, expect) -> list[dict]:
    if expect == "silent":
        time.sleep(2)
        return stack.messages(chat)
    if isinstance(expect, str) and expect.startswith("annotated"):
        n = int(expect.split("x")[1]) if "x" in expect else 1
        stack.wait_for(chat, lambda ms: sum(m["method"] == "sendPhoto" for m in ms) >= n, 240)
    elif expect == "as document":
        stack.wait_for(chat, lambda ms: any(m["method"] == "sendDocument" for m in ms), 240)
    else:
        stack.wait_for(
            chat,
            lambda ms: (
                (text := expected_text(stack, chat, expect[1])) is not None
                and text in texts_of(m for m in ms if m["method"] == "sendMessage")
            ),
            240,
        )
    time.sleep(2)  # a second, duplicate answer would show up here
    return stack.messages(chat)


@pytest.mark.parametrize("name, act, status, expect", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_answer(ctx, observe, name, act, status, expect):
    chat = next(_chats)
    got = act(ctx, chat)
    assert got == status, f"{name}: HTTP {got}, expected {status}"
    messages = settle(ctx.stack, chat, expect)
    photos = [m for m in messages if m["method"] == "sendPhoto"]
    texts = texts_of(messages)
    if expect == "silent":
        assert messages == [], messages
    elif expect == "as document":
        documents = [m for m in messages if m["method"] == "sendDocument"]
        assert photos == [] and len(documents) == 1, messages
        assert documents[0]["document_url"] and documents[0]["caption"], messages
    elif isinstance(expect, str):
        n = int(expect.split("x")[1]) if "x" in expect else 1
        assert len(photos) == n, messages
    else:
        assert photos == [], messages
        assert texts.count(expected_text(ctx.stack, chat, expect[1])) == 1, messages
    observe(
        f"bad input: {name}",
        http=got,
        sent=[m["method"] for m in messages],
        last=(texts[-1][:80] if texts else None),
    )


def test_after_all_bad_input_the_next_photo_is_served(ctx, observe):
    stack = ctx.stack
    before = sorted(stack.pids)
    chat = next(_chats)
    assert stack.send_photo(chat, sample_image("bus.jpg").read_bytes())["webhook_status"] == 200
    photo = stack.wait_for_photo(chat, timeout=240)
    [prediction] = chat_predictions(stack.table(), chat)
    assert prediction.counts.get("bus") == 1, prediction.counts
    assert photo["caption"] == answer(prediction)
    assert stack.process.poll() is None
    assert sorted(stack.alive_pids()) == before, "a process of the stack died or restarted"
    deliveries = stack.emulator_client().deliveries()
    assert "500" not in deliveries["by_status"], deliveries["by_status"]
    observe(
        "bad input: next normal photo", caption=photo["caption"], deliveries=deliveries["by_status"]
    )
