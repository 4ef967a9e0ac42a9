"""The photo flow: S3 original, PENDING item, SQS job, reply; duplicates; transient failures."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from botocore.exceptions import EndpointConnectionError

from common.contracts import (
    PENDING,
    ItemAttr,
    Job,
    is_prediction_id,
    original_key,
    pending_item,
    utc_now_iso,
)
from polybot import replies
from polybot.intake import PhotoOutcome, prediction_id_for
from tests.polybot.conftest import CHAT_ID, message_update, photo_update, post_update
from tests.polybot.fakes import api_error, connection_error

JPEG = b"\xff\xd8\xff\xe0fake-jpeg-bytes"
JOB_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "contracts" / "job_v1.json"


@pytest.fixture
def photo(bot):
    bot.add_file("photo-1", JPEG)


def item_of(clients, pid):
    return clients.table.get_item(Key={"prediction_id": pid}, ConsistentRead=True).get("Item")


def test_photo_is_stored_recorded_queued_and_acknowledged(
    client, clients, bot, jobs, photo, aws, settings
):
    response = post_update(client, photo_update(100, 11))
    assert response.status_code == 200
    pid = prediction_id_for(CHAT_ID, 11)
    assert is_prediction_id(pid)
    key = original_key(CHAT_ID, pid, "jpg")
    stored = aws.client("s3").get_object(Bucket=settings.images_bucket, Key=key)
    assert stored["Body"].read() == JPEG
    assert stored["ContentType"] == "image/jpeg"
    # The largest PhotoSize was fetched, not the first one.
    assert bot.sent("get_file") == [{"file_id": "photo-1"}]
    item = item_of(clients, pid)
    assert item["status"] == PENDING
    assert (item["chat_id"], item["message_id"], item["update_id"]) == (CHAT_ID, 11, 100)
    assert item["original_key"] == key
    assert item["created_at"] and item["expires_at"] > 0 and item["queued_at"]
    assert "claim_at" not in item
    [body] = jobs()
    job = Job.from_json(body)
    assert (job.prediction_id, job.chat_id, job.image_key, job.message_id) == (
        pid,
        CHAT_ID,
        key,
        11,
    )
    assert job.bucket == settings.images_bucket
    [reply] = bot.sent("send_message")
    assert (reply["text"], reply["reply"].message_id) == (replies.RECEIVED, 11)


def test_job_matches_the_contract_fixture(client, bot, jobs, photo):
    post_update(client, photo_update(101, 12))
    [body] = jobs()
    sent, fixture = json.loads(body), json.loads(JOB_FIXTURE.read_text())
    assert sent.keys() == fixture.keys()
    for key, value in fixture.items():
        assert type(sent[key]) is type(value), key
    assert Job.from_json(JOB_FIXTURE.read_text()).v == 1


def test_image_document_follows_the_same_flow(client, clients, bot, jobs, aws, settings):
    bot.add_file("doc-1", b"\x89PNG-bytes")
    document = {
        "file_id": "doc-1",
        "file_name": "cat.png",
        "mime_type": "image/png",
        "file_size": 10,
    }
    response = post_update(client, message_update(102, 13, document=document))
    assert response.status_code == 200
    pid = prediction_id_for(CHAT_ID, 13)
    key = original_key(CHAT_ID, pid, "png")
    obj = aws.client("s3").get_object(Bucket=settings.images_bucket, Key=key)
    assert obj["ContentType"] == "image/png"
    assert Job.from_json(jobs()[0]).image_key == key


@pytest.mark.parametrize("where", ["declared", "getFile", "downloaded"])
def test_too_big_photo_is_refused_with_a_clear_reply(client, bot, jobs, aws, settings, where):
    limit = settings.max_photo_bytes
    update = photo_update(103, 14, file_id="big")
    if where == "declared":
        update["message"]["photo"][1]["file_size"] = limit + 1
        bot.add_file("big", JPEG)
    elif where == "getFile":
        bot.add_file("big", JPEG)
        bot.fail("get_file", api_error(400, "Bad Request: file is too big"))
    else:
        bot.add_file("big", b"x" * (limit + 1), size=100)
    response = post_update(client, update)
    assert response.status_code == 200
    assert response.get_json()["outcome"] == PhotoOutcome.TOO_BIG
    assert [m["text"] for m in bot.sent("send_message")] == [replies.too_big(limit)]
    assert "20 MB" in replies.too_big(limit)
    assert jobs() == []
    assert aws.client("s3").list_objects_v2(Bucket=settings.images_bucket)["KeyCount"] == 0


def test_unfetchable_file_asks_to_resend(client, bot, jobs):
    response = post_update(client, photo_update(104, 15, file_id="unknown"))
    assert response.status_code == 200
    assert response.get_json()["outcome"] == PhotoOutcome.UNFETCHABLE
    assert [m["text"] for m in bot.sent("send_message")] == [replies.RESEND]
    assert jobs() == []


def test_telegram_down_while_fetching_asks_for_redelivery(client, bot, jobs, photo):
    bot.fail("get_file", *[connection_error()] * 4)
    assert post_update(client, photo_update(105, 16)).status_code == 503
    assert jobs() == []
    assert post_update(client, photo_update(105, 16)).status_code == 200
    assert len(jobs()) == 1


def test_same_update_twice_creates_one_job_and_one_reply(client, bot, jobs, photo):
    first = post_update(client, photo_update(106, 17))
    second = post_update(client, photo_update(106, 17))
    assert (first.status_code, second.status_code) == (200, 200)
    outcomes = [first.get_json()["outcome"], second.get_json()["outcome"]]
    assert outcomes == [PhotoOutcome.QUEUED, PhotoOutcome.DUPLICATE]
    assert len(jobs()) == 1
    assert len(bot.sent("send_message")) == 1
    # The redelivery did not even download the photo again.
    assert len(bot.sent("download_file")) == 1


def test_concurrent_duplicates_create_one_job(concurrent_app, bot, jobs, photo):
    barrier, statuses = threading.Barrier(6), []

    def deliver():
        barrier.wait()
        response = post_update(concurrent_app.test_client(), photo_update(107, 18))
        statuses.append(response.status_code)

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * 6
    assert len(jobs()) == 1
    assert [m["text"] for m in bot.sent("send_message")] == [replies.RECEIVED]


class FlakySQS:
    """The real (moto) SQS client, except that the next `failures` sends fail."""

    def __init__(self, sqs, failures: int) -> None:
        self.sqs, self.failures = sqs, failures

    def send_message(self, **kwargs):
        if self.failures:
            self.failures -= 1
            raise EndpointConnectionError(endpoint_url="https://sqs.us-east-1.amazonaws.com")
        return self.sqs.send_message(**kwargs)

    def __getattr__(self, name):
        return getattr(self.sqs, name)


def test_transient_sqs_failure_then_redelivery_queues_exactly_one_job(
    settings, clients, bot, jobs, photo
):
    from dataclasses import replace

    from polybot.app import create_app

    flaky = replace(clients, sqs=FlakySQS(clients.sqs, failures=1))
    client = create_app(settings, flaky).test_client()
    assert post_update(client, photo_update(108, 19)).status_code == 503
    assert jobs() == []
    assert bot.sent("send_message") == []  # no "got it" for a photo that is not queued yet
    pid = prediction_id_for(CHAT_ID, 19)
    assert "claim_at" not in item_of(clients, pid)
    assert post_update(client, photo_update(108, 19)).status_code == 200
    assert post_update(client, photo_update(108, 19)).status_code == 200
    [body] = jobs()
    assert Job.from_json(body).prediction_id == pid
    assert [m["text"] for m in bot.sent("send_message")] == [replies.RECEIVED]


class FlakyS3:
    def __init__(self, s3) -> None:
        self.s3, self.failed = s3, False

    def put_object(self, **kwargs):
        if not self.failed:
            self.failed = True
            raise EndpointConnectionError(endpoint_url="https://s3.amazonaws.com")
        return self.s3.put_object(**kwargs)

    def __getattr__(self, name):
        return getattr(self.s3, name)


def test_transient_s3_failure_then_redelivery_queues_exactly_one_job(
    settings, clients, jobs, photo
):
    from dataclasses import replace

    from polybot.app import create_app

    client = create_app(settings, replace(clients, s3=FlakyS3(clients.s3))).test_client()
    assert post_update(client, photo_update(109, 21)).status_code == 503
    assert item_of(clients, prediction_id_for(CHAT_ID, 21)) is None
    assert post_update(client, photo_update(109, 21)).status_code == 200
    assert len(jobs()) == 1


def test_a_stale_claim_from_a_crashed_attempt_is_taken_over(client, clients, jobs, photo):
    pid = prediction_id_for(CHAT_ID, 22)
    pending = pending_item(pid, CHAT_ID, original_key(CHAT_ID, pid), utc_now_iso())
    clients.table.put_item(Item={**pending, ItemAttr.CLAIM_AT: 1})
    assert post_update(client, photo_update(110, 22)).status_code == 200
    assert len(jobs()) == 1


def test_a_live_claim_means_someone_else_is_queueing(client, clients, jobs, bot, photo):
    import time

    pid = prediction_id_for(CHAT_ID, 23)
    pending = pending_item(pid, CHAT_ID, original_key(CHAT_ID, pid), utc_now_iso())
    clients.table.put_item(Item={**pending, ItemAttr.CLAIM_AT: int(time.time())})
    assert post_update(client, photo_update(111, 23)).status_code == 200
    assert jobs() == []
    assert bot.calls == []


def test_prediction_ids_are_stable_and_distinct():
    assert prediction_id_for(1, 2) == prediction_id_for(1, 2)
    assert prediction_id_for(1, 2) != prediction_id_for(2, 1)
    assert all(is_prediction_id(prediction_id_for(c, m)) for c in (-100, 5) for m in range(50))
