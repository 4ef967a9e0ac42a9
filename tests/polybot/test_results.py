"""POST /results: validation, DONE/FAILED answers, idempotency, no chat redirection."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from common.contracts import PENDING, Failure, FailureReason
from polybot import replies
from polybot.predictions import Claim, claim_answer
from tests.polybot.fakes import api_error, connection_error

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "contracts"
ANNOTATED = b"\xff\xd8annotated-jpeg"


def fixture_item(name: str) -> dict:
    with open(FIXTURES / name) as handle:
        return json.load(handle, parse_float=Decimal)


@pytest.fixture
def done_item(clients, aws, settings):
    item = fixture_item("item_done.json")
    clients.table.put_item(Item=item)
    aws.client("s3").put_object(
        Bucket=settings.images_bucket, Key=item["predicted_key"], Body=ANNOTATED
    )
    return item


@pytest.fixture
def failed_item(clients):
    item = fixture_item("item_failed.json")
    clients.table.put_item(Item=item)
    return item


@pytest.fixture
def legacy_failed_item(clients):
    """Written by a worker from before failure codes: the user's sentence, as free text."""
    item = fixture_item("item_failed_legacy.json")
    clients.table.put_item(Item=item)
    return item


def post_results(client, pid, **extra):
    return client.post("/results", query_string={"predictionId": pid, **extra})


@pytest.mark.parametrize(
    "pid", [None, "", "nope", "3F0C8A52-7C1E-4D5B-9A8E-2B1F6C9D0E41", "1" * 36]
)
def test_invalid_id_is_400(client, bot, pid):
    query = {} if pid is None else {"predictionId": pid}
    assert client.post("/results", query_string=query).status_code == 400
    assert bot.calls == []


def test_unknown_id_is_404(client, bot):
    assert post_results(client, "0b7d6a4e-1c2b-4d3e-8f9a-0a1b2c3d4e5f").status_code == 404
    assert bot.calls == []


def test_pending_is_409(client, clients, bot):
    pid = "0b7d6a4e-1c2b-4d3e-8f9a-0a1b2c3d4e5f"
    clients.table.put_item(Item={"prediction_id": pid, "chat_id": 1, "status": PENDING})
    assert post_results(client, pid).status_code == 409
    assert bot.calls == []


def test_wrong_method_is_405(client):
    assert client.get("/results?predictionId=x").status_code == 405


def test_done_sends_the_annotated_photo_with_counts(client, bot, done_item):
    response = post_results(client, done_item["prediction_id"])
    assert response.status_code == 200
    assert response.get_json() == {"status": "notified"}
    [sent] = bot.sent("send_photo")
    assert sent["chat_id"] == done_item["chat_id"]
    assert sent["photo"] == ANNOTATED
    assert sent["caption"] == "person: 2\nbus: 1"


def test_nothing_detected_says_so(client, clients, bot, done_item):
    clients.table.update_item(
        Key={"prediction_id": done_item["prediction_id"]},
        UpdateExpression="SET #c = :empty, labels = :none",
        ExpressionAttributeNames={"#c": "counts"},
        ExpressionAttributeValues={":empty": {}, ":none": []},
    )
    assert post_results(client, done_item["prediction_id"]).status_code == 200
    assert bot.sent("send_photo")[0]["caption"] == replies.NOTHING_DETECTED


def test_failed_sends_an_apology_with_the_reason(client, bot, failed_item):
    assert post_results(client, failed_item["prediction_id"]).status_code == 200
    [sent] = bot.sent("send_message")
    assert sent["chat_id"] == failed_item["chat_id"]
    assert sent["text"] == (
        "Sorry, I could not detect objects in this photo.\n"
        "Reason: The image is too large for me (30720 KiB). Please send a smaller one."
    )
    assert bot.sent("send_photo") == []


def test_an_item_from_before_failure_codes_gets_its_reason(client, bot, legacy_failed_item):
    assert post_results(client, legacy_failed_item["prediction_id"]).status_code == 200
    [sent] = bot.sent("send_message")
    assert sent["text"] == (
        "Sorry, I could not detect objects in this photo.\n"
        "Reason: The file is not an image I can read."
    )


def test_a_failure_code_this_polybot_does_not_know_gets_the_plain_apology(
    client, clients, bot, failed_item
):
    clients.table.put_item(Item={**failed_item, "failure_reason": "SOME_FUTURE_REASON"})
    assert post_results(client, failed_item["prediction_id"]).status_code == 200
    [sent] = bot.sent("send_message")
    assert sent["text"] == "Sorry, I could not detect objects in this photo."


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (Failure(FailureReason.NOT_AN_IMAGE), "The file is not an image I can read."),
        (
            Failure(FailureReason.DAMAGED),
            "The image looks damaged or incomplete. Please send it again.",
        ),
        (
            Failure(FailureReason.TOO_LARGE, size_bytes=5 * 1024 * 1024 + 1000),
            "The image is too large for me (5120 KiB). Please send a smaller one.",
        ),
        (
            Failure(FailureReason.TOO_MANY_PIXELS, width=8000, height=6000),
            "The image is too large for me (8000×6000 pixels). Please send a smaller one.",
        ),
        (
            Failure(FailureReason.TOO_MANY_PIXELS),
            "The image is too large for me (too many pixels). Please send a smaller one.",
        ),
        (
            Failure(FailureReason.GONE),
            "The photo is no longer available. Please send it again.",
        ),
        (
            Failure(FailureReason.INVALID_JOB),
            "Sorry, something went wrong with this request. Please send the photo again.",
        ),
        (
            Failure(FailureReason.RETRIES_EXHAUSTED),
            "Sorry, I could not process this photo right now. Please try again later.",
        ),
    ],
)
def test_each_failure_reason_reads_as_the_worker_used_to_write_it(failure, reason):
    expected = f"Sorry, I could not detect objects in this photo.\nReason: {reason}"
    assert replies.failed(failure) == expected


def test_every_failure_reason_has_words():
    for reason in FailureReason:
        assert replies.failure_reason(Failure(reason)), reason


def test_second_call_sends_nothing(client, bot, done_item):
    pid = done_item["prediction_id"]
    assert post_results(client, pid).status_code == 200
    again = post_results(client, pid)
    assert again.status_code == 200
    assert again.get_json() == {"status": "already notified"}
    assert len(bot.sent("send_photo")) == 1


def test_concurrent_calls_send_one_photo(concurrent_app, bot, done_item):
    barrier, statuses = threading.Barrier(5), []

    def call():
        barrier.wait()
        response = post_results(concurrent_app.test_client(), done_item["prediction_id"])
        statuses.append(response.status_code)

    threads = [threading.Thread(target=call) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * 5
    assert len(bot.sent("send_photo")) == 1


def test_a_no_reply_item_is_marked_notified_and_nothing_is_sent(
    client, clients, bot, aws, settings
):
    item = fixture_item("item_done_no_reply.json")
    clients.table.put_item(Item=item)
    aws.client("s3").put_object(
        Bucket=settings.images_bucket, Key=item["predicted_key"], Body=ANNOTATED
    )
    pid = item["prediction_id"]

    response = post_results(client, pid)

    assert response.status_code == 200
    assert response.get_json() == {"status": "marked notified (no reply asked)"}
    assert bot.calls == []
    stored = clients.table.get_item(Key={"prediction_id": pid}, ConsistentRead=True)["Item"]
    assert stored["notified_at"]
    assert stored["reply"] is False
    assert post_results(client, pid).get_json() == {"status": "already notified"}
    assert bot.calls == []


def test_the_same_item_with_reply_true_is_answered(client, clients, bot, aws, settings):
    """The no-reply fixture differs from an answered item by its reply flag alone."""
    item = {**fixture_item("item_done_no_reply.json"), "reply": True, "chat_id": 4242}
    clients.table.put_item(Item=item)
    aws.client("s3").put_object(
        Bucket=settings.images_bucket, Key=item["predicted_key"], Body=ANNOTATED
    )
    assert post_results(client, item["prediction_id"]).get_json() == {"status": "notified"}
    assert [s["chat_id"] for s in bot.sent("send_photo")] == [4242]


def test_chat_redirect_attempts_are_ignored(client, bot, done_item):
    response = post_results(client, done_item["prediction_id"], chat_id="666", chatId="666")
    assert response.status_code == 200
    assert [s["chat_id"] for s in bot.sent("send_photo")] == [done_item["chat_id"]]


def test_transient_telegram_failure_releases_the_claim_for_a_retry(client, bot, sleeps, done_item):
    bot.fail("send_photo", *[connection_error()] * 4)
    pid = done_item["prediction_id"]
    assert post_results(client, pid).status_code == 503
    assert len(sleeps) == 3  # retried with backoff before giving up
    assert post_results(client, pid).status_code == 200
    assert len(bot.sent("send_photo")) == 1
    assert post_results(client, pid).get_json() == {"status": "already notified"}


def test_blocked_user_is_dropped_not_retried(client, bot, sleeps, done_item):
    bot.fail("send_photo", api_error(403, "Forbidden: bot was blocked by the user"))
    pid = done_item["prediction_id"]
    response = post_results(client, pid)
    assert response.status_code == 200
    assert "dropped" in response.get_json()["status"]
    assert sleeps == []
    assert post_results(client, pid).get_json() == {"status": "already notified"}


def test_missing_annotated_image_still_answers_with_the_counts(
    client, clients, bot, aws, settings, done_item
):
    aws.client("s3").delete_object(Bucket=settings.images_bucket, Key=done_item["predicted_key"])
    assert post_results(client, done_item["prediction_id"]).status_code == 200
    assert [m["text"] for m in bot.sent("send_message")] == ["person: 2\nbus: 1"]


def test_caption_orders_by_count_then_name():
    assert replies.caption({"bus": 1, "person": 4, "car": 4}) == "car: 4\nperson: 4\nbus: 1"
    assert replies.caption({}) == replies.NOTHING_DETECTED
    long = replies.caption({f"class-{i:04d}": 1 for i in range(500)})
    assert len(long) <= replies.CAPTION_LIMIT and long.endswith("…")


def test_caption_of_very_many_kinds_fits_telegram_limit():
    # 300 kinds with long names: ~12,000 characters before the cut.
    counts = {f"{'very-long-class-name-' * 2}{i:03d}": 1 + i % 7 for i in range(300)}
    text = replies.caption(counts)
    assert len(text) <= replies.CAPTION_LIMIT == 1024
    assert text.endswith("\n…")
    lines = text.split("\n")[:-1]
    assert all(line.endswith(": 7") for line in lines)  # the most frequent come first, whole
    # One class name longer than the limit on its own is cut mid-line, still within it.
    single = replies.caption({"x" * 5000: 1})
    assert len(single) == replies.CAPTION_LIMIT and single.endswith("…")


def test_failure_text_fits_telegram_message_limit():
    text = replies.failed(None, legacy_reason="boom " * 2000)
    assert len(text) <= replies.TEXT_LIMIT == 4096
    assert text.startswith("Sorry") and text.endswith("…")


def test_very_many_kinds_are_answered_with_a_caption_within_1024(client, clients, bot, done_item):
    counts = {f"class-with-a-long-name-{i:04d}": 1 + i % 5 for i in range(400)}
    clients.table.update_item(
        Key={"prediction_id": done_item["prediction_id"]},
        UpdateExpression="SET #c = :counts",
        ExpressionAttributeNames={"#c": "counts"},
        ExpressionAttributeValues={":counts": counts},
    )
    assert post_results(client, done_item["prediction_id"]).status_code == 200
    [sent] = bot.sent("send_photo")
    assert len(sent["caption"]) <= 1024 and sent["caption"].endswith("…")


def test_photo_refused_by_telegram_goes_as_a_document_with_the_caption(
    client, clients, bot, done_item
):
    clients.table.update_item(
        Key={"prediction_id": done_item["prediction_id"]},
        UpdateExpression="SET message_id = :m",
        ExpressionAttributeValues={":m": 77},
    )
    bot.fail("send_photo", api_error(400, "Bad Request: PHOTO_INVALID_DIMENSIONS"))
    response = post_results(client, done_item["prediction_id"])
    assert response.status_code == 200
    assert response.get_json() == {"status": "notified"}
    [sent] = bot.sent("send_document")
    assert sent["chat_id"] == done_item["chat_id"]
    assert sent["document"] == ANNOTATED
    assert sent["caption"] == "person: 2\nbus: 1"
    assert sent["filename"] == f"{done_item['prediction_id']}.jpg"
    assert sent["reply"].message_id == 77  # a reply to the user's photo, like the photo
    assert bot.sent("send_message") == []


def test_photo_over_10_mb_goes_as_a_document_without_trying_send_photo(
    client, bot, aws, settings, done_item
):
    big = ANNOTATED + b"\0" * (10 * 1024 * 1024)
    aws.client("s3").put_object(
        Bucket=settings.images_bucket, Key=done_item["predicted_key"], Body=big
    )
    assert post_results(client, done_item["prediction_id"]).status_code == 200
    assert bot.sent("send_photo") == []  # never uploaded where it must be refused
    [sent] = bot.sent("send_document")
    assert sent["document"] == big and sent["caption"] == "person: 2\nbus: 1"
    assert bot.sent("send_message") == []


def test_refused_as_photo_and_as_document_falls_back_to_the_caption(client, bot, done_item):
    bot.fail("send_photo", api_error(400, "Bad Request: IMAGE_PROCESS_FAILED"))
    bot.fail("send_document", api_error(400, "Bad Request: something else"))
    assert post_results(client, done_item["prediction_id"]).status_code == 200
    assert [m["text"] for m in bot.sent("send_message")] == ["person: 2\nbus: 1"]


def test_a_refusal_that_is_not_the_photo_sends_the_caption_alone(client, bot, done_item):
    bot.fail("send_photo", api_error(404, "Not Found"))
    assert post_results(client, done_item["prediction_id"]).status_code == 200
    assert bot.sent("send_document") == []
    assert [m["text"] for m in bot.sent("send_message")] == ["person: 2\nbus: 1"]


def test_transient_failure_of_the_document_releases_the_claim(client, bot, sleeps, done_item):
    bot.fail("send_photo", api_error(400, "Bad Request: PHOTO_INVALID_DIMENSIONS"))
    bot.fail("send_document", *[api_error(502, "Bad Gateway")] * 4)
    pid = done_item["prediction_id"]
    assert post_results(client, pid).status_code == 503
    bot.fail("send_photo", api_error(400, "Bad Request: PHOTO_INVALID_DIMENSIONS"))
    assert post_results(client, pid).status_code == 200
    assert len(bot.sent("send_document")) == 1
    assert bot.sent("send_message") == []


def test_a_finished_prediction_is_claimed_and_read_in_one_dynamodb_call(
    client, bot, clients, done_item
):
    """The claim returns the item it claimed: no read before it (one call per answer, not two)."""
    calls: list[str] = []
    events = clients.table.meta.client.meta.events
    events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    assert post_results(client, done_item["prediction_id"]).status_code == 200
    assert calls == ["UpdateItem"]
    assert len(bot.calls) == 1


def test_the_claim_tells_unknown_unfinished_and_answered_apart(clients, done_item):
    pending = {**done_item, "prediction_id": "0f0c8a52-7c1e-4d5b-9a8e-2b1f6c9d0e41"}
    pending["status"] = PENDING
    clients.table.put_item(Item=pending)
    assert claim_answer(clients.table, "1f0c8a52-7c1e-4d5b-9a8e-2b1f6c9d0e41") == (
        Claim.UNKNOWN,
        None,
    )
    claim, found = claim_answer(clients.table, pending["prediction_id"])
    assert (claim, found.status) == (Claim.UNFINISHED, PENDING)
    claim, found = claim_answer(clients.table, done_item["prediction_id"])
    assert (claim, found.chat_id, bool(found.notified_at)) == (
        Claim.CLAIMED,
        done_item["chat_id"],
        True,
    )
    claim, found = claim_answer(clients.table, done_item["prediction_id"])
    assert (claim, found.counts) == (Claim.ANSWERED, done_item["counts"])
