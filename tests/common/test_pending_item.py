"""The PENDING item: contracts.pending_item is what polybot writes when it takes a photo,
what the benchmarks write in its place, and what the worker restores when it is missing."""

from __future__ import annotations

import time
import uuid

import boto3
import pytest
from moto import mock_aws

from common.contracts import (
    FAILED,
    ITEM_TTL_SECONDS,
    Failure,
    FailureReason,
    ItemAttr,
    Job,
    Prediction,
    WorkerBuild,
    original_key,
    pending_item,
    utc_now_iso,
)
from local import bootstrap
from polybot import predictions
from yolo5.store import PredictionStore

CHAT_ID = -1001234


@pytest.fixture
def table():
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        made = bootstrap.create_resources(session, "pending")
        yield session.resource("dynamodb").Table(made.table)


def stored(table, pid: str) -> dict:
    return table.get_item(Key={"prediction_id": pid}, ConsistentRead=True)["Item"]


def test_polybot_writes_the_pending_item_and_its_claim(table):
    pid = str(uuid.uuid4())
    key = original_key(CHAT_ID, pid)
    assert predictions.create_pending(
        table, prediction_id=pid, chat_id=CHAT_ID, message_id=7, update_id=9, original_key=key
    )
    item = stored(table, pid)
    expected = pending_item(pid, CHAT_ID, key, item["created_at"], message_id=7, update_id=9)
    # The wire names and the status string, as items already in the table hold them.
    assert set(item) == {
        "prediction_id",
        "chat_id",
        "message_id",
        "update_id",
        "original_key",
        "status",
        "created_at",
        "expires_at",
        "claim_at",
    }
    assert item["status"] == "PENDING"
    assert abs(item.pop("expires_at") - expected.pop(ItemAttr.EXPIRES_AT)) <= 1
    assert abs(int(item.pop("claim_at")) - time.time()) <= 5
    assert item == expected


def test_reply_is_written_only_when_false():
    args = (str(uuid.uuid4()), 0, "originals/0/x.jpg", utc_now_iso())
    answered, silent = pending_item(*args), pending_item(*args, reply=False)
    assert ItemAttr.REPLY not in answered and Prediction.from_item(answered).reply
    assert silent[ItemAttr.REPLY] is False and not Prediction.from_item(silent).reply
    assert abs(answered[ItemAttr.EXPIRES_AT] - time.time() - ITEM_TTL_SECONDS) <= 5


def test_the_worker_restores_what_the_job_tells_when_the_item_is_missing(table):
    pid = str(uuid.uuid4())
    job = Job(pid, CHAT_ID, "bucket", original_key(CHAT_ID, pid), 7, "2024-01-01T00:00:00.000Z")
    store = PredictionStore(table, WorkerBuild("yolov5n", "onnx", "0" * 40))
    assert store.mark_failed(pid, Failure(FailureReason.GONE), job)
    item = stored(table, pid)
    restored = pending_item(pid, job.chat_id, job.image_key, job.requested_at)
    assert item["status"] == FAILED
    for name in set(restored) - {ItemAttr.STATUS, ItemAttr.EXPIRES_AT}:
        assert item[name] == restored[name], name
    assert abs(item["expires_at"] - restored[ItemAttr.EXPIRES_AT]) <= 1
