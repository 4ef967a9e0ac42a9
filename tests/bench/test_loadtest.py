"""The load test's AWS mode, driven against a moto server with a stand-in worker."""

from __future__ import annotations

import json
import threading

import boto3
import pytest

from bench import loadtest
from bench.jobs import bound_to
from common.contracts import DONE, utc_now_iso
from local.bootstrap import create_resources
from tests.support.images import sample_image


@pytest.fixture
def aws(moto_server):
    session = bound_to(boto3.Session(region_name="us-east-1"), moto_server)
    return session, create_resources(session, "loadtest")


def fake_worker(session, resources, stop: threading.Event) -> threading.Thread:
    """Marks every job's item DONE and deletes the message, as yolo5 would."""
    sqs = session.client("sqs")
    table = session.resource("dynamodb").Table(resources.table)

    def work() -> None:
        while not stop.is_set():
            reply = sqs.receive_message(
                QueueUrl=resources.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            for message in reply.get("Messages", []):
                job = json.loads(message["Body"])
                table.update_item(
                    Key={"prediction_id": job["prediction_id"]},
                    UpdateExpression="SET #s = :done, completed_at = :now",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={":done": DONE, ":now": utc_now_iso()},
                )
                sqs.delete_message(
                    QueueUrl=resources.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_aws_mode_injects_every_job_and_accounts_for_each(aws):
    session, resources = aws
    photo = sample_image("zidane.jpg").read_bytes()
    target = loadtest.AwsTarget(session, resources, None, 4242, [photo])
    stop = threading.Event()
    worker = fake_worker(session, resources, stop)
    try:
        outcome = loadtest.run(target, rate=20, count=6, interval=0.2, timeout=60, progress=False)
    finally:
        stop.set()
        worker.join(10)

    assert (outcome.sent, outcome.send_failures) == (6, 0)
    assert outcome.statuses == {DONE: 6}
    assert len(outcome.latencies_ms) == 6
    assert all(ms >= 0 for ms in outcome.latencies_ms)
    assert outcome.drain_seconds is not None
    s3 = session.client("s3")
    originals = s3.list_objects_v2(Bucket=resources.bucket, Prefix="originals/4242/")
    assert originals["KeyCount"] == 6
    assert "drain after the last send" in loadtest.report(outcome)


def test_an_undrained_queue_is_reported_as_timed_out(aws):
    session, resources = aws
    target = loadtest.AwsTarget(session, resources, None, 7, [b"\xff\xd8 not really a photo"])
    outcome = loadtest.run(target, rate=50, count=3, interval=0.2, timeout=1, progress=False)

    assert outcome.sent == 3
    assert outcome.drain_seconds is None
    assert outcome.statuses == {"PENDING": 3}
    assert "timed out" in loadtest.report(outcome)


def test_aws_mode_needs_a_chat_id(capsys):
    with pytest.raises(SystemExit):
        loadtest.main(["--target", "aws", "--count", "1"])
    assert "--chat-id" in capsys.readouterr().err
