"""POST /telegram/webhook: authentication, defensive parsing, each kind of message."""

from __future__ import annotations

import pytest

from polybot import replies
from tests.polybot.conftest import CHAT_ID, message_update, photo_update, post_update


@pytest.fixture
def photo(bot):
    bot.add_file("photo-1", b"\xff\xd8jpeg-bytes")


def stored_objects(aws, resources):
    return aws.client("s3").list_objects_v2(Bucket=resources["bucket"]).get("KeyCount", 0)


def items(aws, resources):
    return aws.client("dynamodb").scan(TableName=resources["table"])["Items"]


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", "test-webhook-secret-012345678"])
def test_missing_or_wrong_secret_is_403_with_no_side_effect(
    client, photo, bot, jobs, aws, resources, secret
):
    response = post_update(client, photo_update(1, 10), secret=secret)
    assert response.status_code == 403
    assert bot.calls == []
    assert jobs() == []
    assert stored_objects(aws, resources) == 0
    assert items(aws, resources) == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'"text"',
        b"null",
        b"{}",
        b'{"update_id": "7"}',
        b'{"update_id": true}',
    ],
)
def test_bodies_that_are_not_updates_are_400(client, bot, body):
    response = client.post(
        "/telegram/webhook",
        data=body,
        headers={"X-Telegram-Bot-Api-Secret-Token": "test-webhook-secret-0123456789"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert bot.calls == []


def test_huge_body_is_413(client, bot):
    body = b'{"update_id": 1, "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = client.post(
        "/telegram/webhook",
        data=body,
        headers={"X-Telegram-Bot-Api-Secret-Token": "test-webhook-secret-0123456789"},
        content_type="application/json",
    )
    assert response.status_code == 413
    assert bot.calls == []


@pytest.mark.parametrize("text", ["/start", "/help", "hello there"])
def test_text_and_commands_get_the_help(client, bot, text):
    response = post_update(client, message_update(2, 20, text=text))
    assert response.status_code == 200
    [reply] = bot.sent("send_message")
    assert reply["chat_id"] == CHAT_ID
    assert reply["text"] == replies.HELP
    assert reply["reply"].message_id == 20


@pytest.mark.parametrize(
    "fields",
    [
        {"sticker": {"file_id": "st", "width": 512, "height": 512, "is_animated": False}},
        {"video": {"file_id": "v", "width": 640, "height": 480, "duration": 3}},
        {"voice": {"file_id": "vo", "duration": 2}},
        {"location": {"latitude": 32.1, "longitude": 34.8}},
        {"photo": []},
        {"photo": "not a list"},
        {"photo": [{"width": 10}]},
    ],
)
def test_other_message_kinds_get_a_polite_reply(client, bot, jobs, fields):
    response = post_update(client, message_update(3, 30, **fields))
    assert response.status_code == 200
    [reply] = bot.sent("send_message")
    assert reply["text"] == replies.UNSUPPORTED
    assert jobs() == []


def test_non_image_document_is_told_to_send_a_photo(client, bot, jobs):
    document = {"file_id": "doc", "file_name": "notes.pdf", "mime_type": "application/pdf"}
    response = post_update(client, message_update(4, 40, document=document))
    assert response.status_code == 200
    assert [m["text"] for m in bot.sent("send_message")] == [replies.NOT_AN_IMAGE]
    assert jobs() == []


def test_edited_message_gets_a_reply_and_no_job(client, bot, jobs):
    update = photo_update(5, 50)
    update["edited_message"] = update.pop("message")
    response = post_update(client, update)
    assert response.status_code == 200
    [reply] = bot.sent("send_message")
    assert (reply["chat_id"], reply["text"]) == (CHAT_ID, replies.EDITED)
    assert jobs() == []


@pytest.mark.parametrize(
    "update",
    [
        {"update_id": 6},
        {
            "update_id": 6,
            "channel_post": {"message_id": 1, "chat": {"id": -100, "type": "channel"}},
        },
        {"update_id": 6, "callback_query": {"id": "q"}},
        {"update_id": 6, "message": "not an object"},
        {"update_id": 6, "message": {"message_id": 1, "chat": {"id": "x"}, "text": "hi"}},
        {"update_id": 6, "message": {"message_id": 1, "text": "no chat"}},
        {"update_id": 6, "edited_message": {"chat": {"id": 1}}},
    ],
)
def test_updates_with_nobody_to_answer_are_a_silent_200(client, bot, update):
    response = post_update(client, update)
    assert response.status_code == 200
    assert bot.calls == []


def test_telegram_failure_on_a_help_reply_is_still_200(client, bot):
    from tests.polybot.fakes import api_error

    bot.fail("send_message", api_error(403, "Forbidden: bot was blocked by the user"))
    response = post_update(client, message_update(7, 70, text="/start"))
    assert response.status_code == 200
    assert bot.sent("send_message") == []


def test_wrong_method_is_405(client):
    assert client.get("/telegram/webhook").status_code == 405
