"""The whole job path against moto, with a fake detector and a stub polybot over real HTTP.

Each job goes down the path production runs: prepare(), then the worker's run_job() (the
model, then complete() or settle() on an I/O thread). The lookahead around it is tested in
test_worker.py and test_worker_overlap.py.
"""

from __future__ import annotations

import io
import json
import logging
from decimal import Decimal
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from PIL import Image

from common.contracts import (
    DONE,
    FAILED,
    PENDING,
    Failure,
    FailureReason,
    Job,
    Prediction,
    predicted_key,
)
from common.jsonlog import JsonFormatter
from tests.support.images import sample_image
from tests.yolo5.conftest import (
    MAX_RECEIVE,
    WORKER_BUILD,
    make_processor,
    make_worker,
    running,
)
from yolo5.processing import Outcome, Prepared
from yolo5.queue import JobsQueue, Message
from yolo5.worker import Worker

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "contracts"


def receive(aws):
    messages = JobsQueue(aws.sqs, aws.queue_url).receive(1, 0)
    assert len(messages) == 1
    return messages[0]


def release_and_receive(aws, message):
    JobsQueue(aws.sqs, aws.queue_url).set_visibility(message, 0)
    return receive(aws)


def run(worker: Worker, message: Message) -> Outcome:
    """One job as the worker runs it: prepare() (an I/O thread's part), then run_job(); the
    job's outcome once its completion is over."""
    return worker.run_job(worker.processor.prepare(message)).result(timeout=60)


def test_whole_path_marks_done_uploads_notifies_and_deletes(aws, worker, results, bus_bytes):
    job = aws.put_photo(bus_bytes)
    aws.send(job.to_json())

    outcome = run(worker, receive(aws))

    assert outcome == Outcome.DONE
    item = aws.item(job.prediction_id)
    assert item["status"] == DONE
    assert item["counts"] == {"cat": 1}
    assert item["labels"] == [{"class": "cat", "confidence": Decimal("0.9"), "bbox": [0, 0, 1, 1]}]
    assert item["predicted_key"] == predicted_key(job.prediction_id)
    body = aws.s3.get_object(Bucket=aws.bucket, Key=item["predicted_key"])["Body"].read()
    assert Image.open(io.BytesIO(body)).format == "JPEG"
    assert results.calls == [job.prediction_id]
    assert aws.queue_depth() == 0
    # Which worker did it, beside the model: polybot's /version reads it from here.
    assert (item["model"], item["backend"], item["version"]) == (
        WORKER_BUILD.model,
        WORKER_BUILD.backend,
        WORKER_BUILD.version,
    )


def test_done_item_has_the_keys_and_types_of_the_contract_fixture(aws, worker, bus_bytes):
    expected = json.loads((FIXTURES / "item_done.json").read_text(), parse_float=Decimal)
    job = aws.put_photo(bus_bytes)
    aws.send(job.to_json())
    run(worker, receive(aws))

    item = aws.item(job.prediction_id)
    assert set(item) == set(expected)
    for key, value in expected.items():
        assert isinstance(
            item[key], Decimal if isinstance(value, int | Decimal) else type(value)
        ), key
    assert set(item["labels"][0]) == set(expected["labels"][0])


def test_a_no_reply_item_is_finished_like_the_contract_fixture_and_keeps_its_flag(
    aws, worker, results, bus_bytes
):
    """The load test's items (chat 0, reply false): the worker runs the whole path and calls
    /results as for any item; the flag stays for polybot to read."""
    expected = json.loads((FIXTURES / "item_done_no_reply.json").read_text(), parse_float=Decimal)
    job = aws.put_photo(bus_bytes, chat_id=expected["chat_id"])
    aws.table.update_item(
        Key={"prediction_id": job.prediction_id},
        UpdateExpression="SET reply = :no",
        ExpressionAttributeValues={":no": False},
    )
    aws.send(job.to_json())

    assert run(worker, receive(aws)) == Outcome.DONE

    item = aws.item(job.prediction_id)
    assert set(item) == set(expected)
    assert (item["status"], item["chat_id"], item["reply"]) == (DONE, 0, False)
    assert results.calls == [job.prediction_id]
    assert aws.queue_depth() == 0


def test_item_missing_is_created_complete(aws, worker, bus_bytes):
    job = aws.put_photo(bus_bytes, pending=False)
    aws.send(job.to_json())
    run(worker, receive(aws))
    item = aws.item(job.prediction_id)
    assert item["status"] == DONE
    assert item["chat_id"] == job.chat_id
    assert item["original_key"] == job.image_key
    assert "expires_at" in item


def test_contract_job_fixture_is_processed(aws, results, fake_detector, bus_bytes, tmp_path):
    body = (FIXTURES / "job_v1.json").read_text()
    job = Job.from_json(body)
    aws.s3.create_bucket(Bucket=job.bucket)
    aws.s3.put_object(Bucket=job.bucket, Key=job.image_key, Body=bus_bytes)
    aws.send(body)

    processor = make_processor(aws, results.url, images_bucket=job.bucket)
    with running(make_worker(processor, fake_detector, tmp_path / "health")) as worker:
        outcome = run(worker, receive(aws))
    assert outcome == Outcome.DONE
    assert aws.item(job.prediction_id)["status"] == DONE
    assert results.calls == [job.prediction_id]


def _job_with(aws, bus_bytes, **changes) -> tuple[Job, str]:
    job = aws.put_photo(bus_bytes)
    data = {**json.loads(job.to_json()), **changes}
    return job, json.dumps(data)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("unknown_version", FailureReason.INVALID_JOB),
        ("missing_object", FailureReason.GONE),
        ("not_an_image", FailureReason.NOT_AN_IMAGE),
        ("other_bucket", FailureReason.INVALID_JOB),
        ("bad_chat_id", FailureReason.INVALID_JOB),
    ],
)
def test_permanent_failure_marks_failed_notifies_and_deletes(
    aws, worker, results, fake_detector, bus_bytes, case, reason
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

    outcome = run(worker, receive(aws))

    assert outcome == Outcome.FAILED
    item = aws.item(job.prediction_id)
    assert item["status"] == FAILED
    assert Failure.from_item(item) == Failure(reason)
    assert Prediction.from_item(item).worker == WORKER_BUILD
    assert results.calls == [job.prediction_id]
    assert aws.queue_depth() == 0
    assert fake_detector.calls == 0


def test_garbage_body_without_an_id_is_dropped(aws, worker, results):
    aws.send("this is not json")
    assert run(worker, receive(aws)) == Outcome.DROPPED
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
def test_transient_failure_leaves_the_message(aws, processor, worker, results, bus_bytes, exc):
    job = aws.put_photo(bus_bytes)
    aws.send(job.to_json())
    processor.s3 = FailingS3(aws.s3, exc)

    assert run(worker, receive(aws)) == Outcome.RETRY
    assert aws.item(job.prediction_id)["status"] == PENDING
    assert results.calls == []
    assert aws.queue_depth() == 1


def test_polybot_down_leaves_the_message_and_redelivery_only_notifies(
    aws, worker, results, fake_detector, bus_bytes
):
    job = aws.put_photo(bus_bytes)
    aws.send(job.to_json())
    results.default = 503
    message = receive(aws)
    assert run(worker, message) == Outcome.RETRY
    assert aws.item(job.prediction_id)["status"] == DONE
    assert len(results.calls) == 3  # bounded retries
    assert aws.queue_depth() == 1

    results.default = 200
    assert run(worker, release_and_receive(aws, message)) == Outcome.RENOTIFIED
    assert fake_detector.calls == 1
    assert aws.queue_depth() == 0


def test_polybot_rejecting_the_id_is_final(aws, worker, results, bus_bytes):
    job = aws.put_photo(bus_bytes)
    aws.send(job.to_json())
    results.default = 404
    assert run(worker, receive(aws)) == Outcome.DONE
    assert results.calls == [job.prediction_id]
    assert aws.queue_depth() == 0


def test_last_attempt_records_failed_and_tells_the_user(aws, processor, worker, results, bus_bytes):
    job = aws.put_photo(bus_bytes)
    aws.send(job.to_json())
    processor.s3 = FailingS3(aws.s3, THROTTLED)
    message = receive(aws)
    outcomes = [run(worker, message)]
    for _ in range(MAX_RECEIVE - 1):
        message = release_and_receive(aws, message)
        outcomes.append(run(worker, message))

    assert message.receive_count == MAX_RECEIVE
    assert outcomes == [Outcome.RETRY, Outcome.RETRY, Outcome.DEAD_LETTERED]
    item = aws.item(job.prediction_id)
    assert item["status"] == FAILED
    assert Failure.from_item(item) == Failure(FailureReason.RETRIES_EXHAUSTED)
    assert results.calls == [job.prediction_id]
    assert aws.queue_depth() == 1  # left for the dead-letter queue


class PoisonDetector:
    def detect(self, rgb):
        raise RuntimeError("boom")


def test_poison_inference_is_transient_then_failed_on_last_attempt(aws, worker, results, bus_bytes):
    job = aws.put_photo(bus_bytes)
    aws.send(job.to_json())
    worker.detector = PoisonDetector()
    message = receive(aws)
    assert run(worker, message) == Outcome.RETRY
    for _ in range(MAX_RECEIVE - 1):
        message = release_and_receive(aws, message)
        outcome = run(worker, message)
    assert outcome == Outcome.DEAD_LETTERED
    assert aws.item(job.prediction_id)["status"] == FAILED


def test_a_failed_inference_is_logged_with_its_prediction_id(aws, worker, bus_bytes):
    job = aws.put_photo(bus_bytes)
    aws.send(job.to_json())
    worker.detector = PoisonDetector()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("yolo5"))
    logging.getLogger("yolo5.worker").addHandler(handler)
    try:
        assert run(worker, receive(aws)) == Outcome.RETRY
    finally:
        logging.getLogger("yolo5.worker").removeHandler(handler)
    (line,) = [json.loads(text) for text in out.getvalue().splitlines()]
    assert (line["level"], line["prediction_id"]) == ("ERROR", job.prediction_id)
    assert "RuntimeError: boom" in line["exc"]


def test_a_stage_that_raises_is_a_crash_and_the_message_comes_back(
    aws, worker, bus_bytes, monkeypatch
):
    """A bug in a stage must not kill the worker; the job is retried after the timeout."""
    job = aws.put_photo(bus_bytes)
    aws.send(job.to_json())

    def broken_complete(prepared, detection):
        raise KeyError("a bug")

    monkeypatch.setattr(worker.processor, "complete", broken_complete)
    message = receive(aws)
    worker.keeper.track(message)
    assert run(worker, message) == Outcome.CRASHED
    assert worker.keeper.release_all() == 0  # untracked: left to the visibility timeout
    assert aws.item(job.prediction_id)["status"] == PENDING


def test_the_image_is_let_go_once_the_model_is_done_with_it(aws, worker, bus_bytes):
    job = aws.put_photo(bus_bytes)
    aws.send(job.to_json())
    prepared = worker.processor.prepare(receive(aws))
    assert prepared.image is not None
    assert worker.run_job(prepared).result(timeout=60) == Outcome.DONE
    assert prepared.image is None  # not held while the upload and notify are pending


def test_redelivered_finished_job_is_not_redone_or_overwritten(
    aws, worker, results, fake_detector, bus_bytes
):
    job = aws.put_photo(bus_bytes)
    aws.send(job.to_json())
    aws.send(job.to_json())  # a duplicate send, as at-least-once delivery allows
    assert run(worker, receive(aws)) == Outcome.DONE
    first = aws.item(job.prediction_id)

    # The duplicate's first delivery was lost (a worker died): its redelivery reads the status.
    redelivered = release_and_receive(aws, receive(aws))
    assert redelivered.receive_count == 2
    assert run(worker, redelivered) == Outcome.RENOTIFIED
    assert fake_detector.calls == 1
    assert aws.item(job.prediction_id) == first
    assert aws.queue_depth() == 0


def test_a_first_delivery_of_a_finished_job_is_run_but_changes_nothing(
    aws, worker, results, fake_detector, bus_bytes
):
    """No status read on a first delivery: a duplicate is run again, and the conditional write
    leaves the finished item as it was; polybot's claim keeps the user from a second answer."""
    job = aws.put_photo(bus_bytes)
    aws.send(job.to_json())
    aws.send(job.to_json())
    assert run(worker, receive(aws)) == Outcome.DONE
    first = aws.item(job.prediction_id)

    assert run(worker, receive(aws)) == Outcome.DONE
    assert fake_detector.calls == 2
    assert aws.item(job.prediction_id) == first
    assert results.calls == [job.prediction_id] * 2
    assert aws.queue_depth() == 0


def test_conditional_write_never_overwrites_a_finished_item(aws, processor, bus_bytes):
    job = aws.put_photo(bus_bytes)
    store = processor.store
    first, second = Failure(FailureReason.GONE), Failure(FailureReason.NOT_AN_IMAGE)
    assert store.mark_failed(job.prediction_id, first, job) is True
    assert store.mark_done(job, [], {}, 1.0, "k") is False
    assert store.mark_failed(job.prediction_id, second, job) is False
    item = aws.item(job.prediction_id)
    assert (item["status"], Failure.from_item(item)) == (FAILED, first)


@pytest.mark.slow
def test_whole_path_with_the_real_model(aws, worker, results, real_detector):
    worker.detector = real_detector
    job = aws.put_photo(sample_image("zidane.jpg").read_bytes())
    aws.send(job.to_json())
    assert run(worker, receive(aws)) == Outcome.DONE
    item = aws.item(job.prediction_id)
    assert item["counts"] == {"person": 2, "tie": 1}
    assert item["model"] == "yolov5n"
    assert all(isinstance(label["confidence"], Decimal) for label in item["labels"])
    assert results.calls == [job.prediction_id]


def _ends_with(outcome: Outcome):
    def stage(prepared):
        return outcome

    return stage


def _crashes(prepared):
    raise RuntimeError("a bug in a stage")


@pytest.mark.parametrize(
    ("stage", "deleted"),
    [(_ends_with(o), o.deletes) for o in Outcome] + [(_crashes, False)],
    ids=[o.value for o in Outcome] + ["raises"],
)
def test_every_outcome_ends_its_message_in_the_one_owner(aws, worker, stage, deleted):
    """Whatever a finishing stage returns (or raises), the message is no longer tracked, and it
    is deleted exactly when its outcome says the job is done with."""
    aws.send("{}")
    message = receive(aws)
    worker.keeper.track(message)
    worker._guarded(stage, Prepared(message))
    assert worker.keeper.release_all() == 0  # nothing left for the keeper to extend
    assert aws.queue_depth() == (0 if deleted else 1)


def test_only_the_outcomes_that_finish_a_job_delete_it():
    assert {o for o in Outcome if o.deletes} == {
        Outcome.DONE,
        Outcome.RENOTIFIED,
        Outcome.FAILED,
        Outcome.DROPPED,
    }
