"""The whole job path against moto, with a fake detector and a stub polybot over real HTTP."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from PIL import Image

from common.contracts import DONE, FAILED, PENDING, Job, predicted_key
from tests.support.images import sample_image
from tests.yolo5.conftest import MAX_RECEIVE, make_processor
from yolo5.images import NOT_AN_IMAGE
from yolo5.processing import GAVE_UP, GONE, UNREADABLE_JOB
from yolo5.queue import JobsQueue

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "contracts"


def receive(aws):
    messages = JobsQueue(aws.sqs, aws.queue_url).receive(1, 0)
    assert len(messages) == 1
    return messages[0]


def release_and_receive(aws, message):
    JobsQueue(aws.sqs, aws.queue_url).set_visibility(message, 0)
    return receive(aws)


def test_whole_path_marks_done_uploads_notifies_and_deletes(
    aws, processor, results, fake_detector, bus_bytes
):
    job = aws.put_photo(bus_bytes)
    aws.send(job.to_json())

    outcome = processor.process(receive(aws), fake_detector)

    assert outcome == "done"
    item = aws.item(job.prediction_id)
    assert item["status"] == DONE
    assert item["counts"] == {"cat": 1}
    assert item["labels"] == [{"class": "cat", "confidence": Decimal("0.9"), "bbox": [0, 0, 1, 1]}]
    assert item["predicted_key"] == predicted_key(job.prediction_id)
    body = aws.s3.get_object(Bucket=aws.bucket, Key=item["predicted_key"])["Body"].read()
    assert Image.open(io.BytesIO(body)).format == "JPEG"
    assert results.calls == [job.prediction_id]
    assert aws.queue_depth() == 0


def test_done_item_has_the_keys_and_types_of_the_contract_fixture(
    aws, processor, fake_detector, bus_bytes
):
    expected = json.loads((FIXTURES / "item_done.json").read_text(), parse_float=Decimal)
    job = aws.put_photo(bus_bytes)
    aws.send(job.to_json())
    processor.process(receive(aws), fake_detector)

    item = aws.item(job.prediction_id)
    assert set(item) == set(expected)
    for key, value in expected.items():
        assert isinstance(
            item[key], Decimal if isinstance(value, int | Decimal) else type(value)
        ), key
    assert set(item["labels"][0]) == set(expected["labels"][0])


def test_item_missing_is_created_complete(aws, processor, fake_detector, bus_bytes):
    job = aws.put_photo(bus_bytes, pending=False)
    aws.send(job.to_json())
    processor.process(receive(aws), fake_detector)
    item = aws.item(job.prediction_id)
    assert item["status"] == DONE
    assert item["chat_id"] == job.chat_id
    assert item["original_key"] == job.image_key
    assert "expires_at" in item


def test_contract_job_fixture_is_processed(aws, results, fake_detector, bus_bytes):
    body = (FIXTURES / "job_v1.json").read_text()
    job = Job.from_json(body)
    aws.s3.create_bucket(Bucket=job.bucket)
    aws.s3.put_object(Bucket=job.bucket, Key=job.image_key, Body=bus_bytes)
    aws.send(body)

    outcome = make_processor(aws, results.url, images_bucket=job.bucket).process(
        receive(aws), fake_detector
    )
    assert outcome == "done"
    assert aws.item(job.prediction_id)["status"] == DONE
    assert results.calls == [job.prediction_id]


def _job_with(aws, bus_bytes, **changes) -> tuple[Job, str]:
    job = aws.put_photo(bus_bytes)
    data = {**json.loads(job.to_json()), **changes}
    return job, json.dumps(data)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("unknown_version", UNREADABLE_JOB),
        ("missing_object", GONE),
        ("not_an_image", NOT_AN_IMAGE),
        ("other_bucket", UNREADABLE_JOB),
        ("bad_chat_id", UNREADABLE_JOB),
    ],
)
def test_permanent_failure_marks_failed_notifies_and_deletes(
    aws, processor, results, fake_detector, bus_bytes, case, reason
):
    job, body = _job_with(aws, bus_bytes)
    if case == "unknown_version":
        _, body = _job_with(aws, bus_bytes, v=2, prediction_id=job.prediction_id)
    elif case == "missing_object":
        aws.s3.delete_object(Bucket=aws.bucket, Key=job.image_key)
    elif case == "not_an_image":
        aws.s3.put_object(Bucket=aws.bucket, Key=job.image_key, Body=b"<html>hello</html>")
    elif case == "other_bucket":
        body = json.dumps({**json.loads(body), "bucket": "someone-elses-bucket"})
    elif case == "bad_chat_id":
        body = json.dumps({**json.loads(body), "chat_id": "777"})
    aws.send(body)

    outcome = processor.process(receive(aws), fake_detector)

    assert outcome == "failed"
    item = aws.item(job.prediction_id)
    assert item["status"] == FAILED
    assert item["error"] == reason
    assert results.calls == [job.prediction_id]
    assert aws.queue_depth() == 0
    assert fake_detector.calls == 0


def test_garbage_body_without_an_id_is_dropped(aws, processor, results, fake_detector):
    aws.send("this is not json")
    assert processor.process(receive(aws), fake_detector) == "dropped"
    assert results.calls == []
    assert aws.queue_depth() == 0


class FailingS3:
    """Wraps a real S3 client; get_object fails with the given exception."""

    def __init__(self, real, exc):
        self.real, self.exc = real, exc

    def get_object(self, **kwargs):
        raise self.exc

    def __getattr__(self, name):
        return getattr(self.real, name)


THROTTLED = ClientError({"Error": {"Code": "SlowDown", "Message": "slow down"}}, "GetObject")
NETWORK = EndpointConnectionError(endpoint_url="https://s3.example")


@pytest.mark.parametrize("exc", [THROTTLED, NETWORK], ids=["throttled", "network"])
def test_transient_failure_leaves_the_message(
    aws, processor, results, fake_detector, bus_bytes, exc
):
    job = aws.put_photo(bus_bytes)
    aws.send(job.to_json())
    processor.s3 = FailingS3(aws.s3, exc)

    assert processor.process(receive(aws), fake_detector) == "retry"
    assert aws.item(job.prediction_id)["status"] == PENDING
    assert results.calls == []
    assert aws.queue_depth() == 1


def test_polybot_down_leaves_the_message_and_redelivery_only_notifies(
    aws, processor, results, fake_detector, bus_bytes
):
    job = aws.put_photo(bus_bytes)
    aws.send(job.to_json())
    results.default = 503
    message = receive(aws)
    assert processor.process(message, fake_detector) == "retry"
    assert aws.item(job.prediction_id)["status"] == DONE
    assert len(results.calls) == 3  # bounded retries
    assert aws.queue_depth() == 1

    results.default = 200
    assert processor.process(release_and_receive(aws, message), fake_detector) == "renotified"
    assert fake_detector.calls == 1
    assert aws.queue_depth() == 0


def test_polybot_rejecting_the_id_is_final(aws, processor, results, fake_detector, bus_bytes):
    job = aws.put_photo(bus_bytes)
    aws.send(job.to_json())
    results.default = 404
    assert processor.process(receive(aws), fake_detector) == "done"
    assert results.calls == [job.prediction_id]
    assert aws.queue_depth() == 0


def test_last_attempt_records_failed_and_tells_the_user(
    aws, processor, results, fake_detector, bus_bytes
):
    job = aws.put_photo(bus_bytes)
    aws.send(job.to_json())
    processor.s3 = FailingS3(aws.s3, THROTTLED)
    message = receive(aws)
    outcomes = [processor.process(message, fake_detector)]
    for _ in range(MAX_RECEIVE - 1):
        message = release_and_receive(aws, message)
        outcomes.append(processor.process(message, fake_detector))

    assert message.receive_count == MAX_RECEIVE
    assert outcomes == ["retry", "retry", "dead-lettered"]
    item = aws.item(job.prediction_id)
    assert item["status"] == FAILED
    assert item["error"] == GAVE_UP
    assert results.calls == [job.prediction_id]
    assert aws.queue_depth() == 1  # left for the dead-letter queue


class PoisonDetector:
    def detect(self, rgb):
        raise RuntimeError("boom")


def test_poison_inference_is_transient_then_failed_on_last_attempt(
    aws, processor, results, bus_bytes
):
    job = aws.put_photo(bus_bytes)
    aws.send(job.to_json())
    message = receive(aws)
    assert processor.process(message, PoisonDetector()) == "retry"
    for _ in range(MAX_RECEIVE - 1):
        message = release_and_receive(aws, message)
        outcome = processor.process(message, PoisonDetector())
    assert outcome == "dead-lettered"
    assert aws.item(job.prediction_id)["status"] == FAILED


def test_redelivered_finished_job_is_not_redone_or_overwritten(
    aws, processor, results, fake_detector, bus_bytes
):
    job = aws.put_photo(bus_bytes)
    aws.send(job.to_json())
    aws.send(job.to_json())  # a duplicate send, as at-least-once delivery allows
    assert processor.process(receive(aws), fake_detector) == "done"
    first = aws.item(job.prediction_id)

    assert processor.process(receive(aws), fake_detector) == "renotified"
    assert fake_detector.calls == 1
    assert aws.item(job.prediction_id) == first
    assert aws.queue_depth() == 0


def test_conditional_write_never_overwrites_a_finished_item(aws, processor, bus_bytes):
    job = aws.put_photo(bus_bytes)
    store = processor.store
    assert store.mark_failed(job.prediction_id, "first reason", job) is True
    assert store.mark_done(job, [], {}, "yolov5n", 1.0, "k") is False
    assert store.mark_failed(job.prediction_id, "second reason", job) is False
    item = aws.item(job.prediction_id)
    assert (item["status"], item["error"]) == (FAILED, "first reason")


@pytest.mark.slow
def test_whole_path_with_the_real_model(aws, processor, results, real_detector):
    job = aws.put_photo(sample_image("zidane.jpg").read_bytes())
    aws.send(job.to_json())
    assert processor.process(receive(aws), real_detector) == "done"
    item = aws.item(job.prediction_id)
    assert item["counts"] == {"person": 2, "tie": 1}
    assert item["model"] == "yolov5n"
    assert all(isinstance(label["confidence"], Decimal) for label in item["labels"])
    assert results.calls == [job.prediction_id]
