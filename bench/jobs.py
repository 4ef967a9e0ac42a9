"""Jobs put straight into the queue, as polybot would: original in S3, PENDING item, SQS job.

Used by the worker benchmarks (against a moto server) and by the AWS load test (against the
real bucket, table and queue, with a test chat id).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

from common.contracts import ITEM_TTL_SECONDS, PENDING, Job, original_key, utc_now_iso


@dataclass(frozen=True)
class Resources:
    bucket: str
    table: str
    queue_url: str


def create_resources(session, prefix: str, visibility: int = 60) -> Resources:
    """Fresh bucket, table and queue (with a DLQ, maxReceiveCount 3) in a moto server."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    session.client("s3").create_bucket(Bucket=name)
    session.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "prediction_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "prediction_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    sqs = session.client("sqs")
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
    policy = {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": 3}
    queue_url = sqs.create_queue(
        QueueName=name,
        Attributes={"RedrivePolicy": json.dumps(policy), "VisibilityTimeout": str(visibility)},
    )["QueueUrl"]
    return Resources(name, name, queue_url)


class JobInjector:
    """Stages originals + PENDING items, then sends the jobs (10 per SQS call when batched)."""

    def __init__(self, session, resources: Resources) -> None:
        self.s3 = session.client("s3")
        self.sqs = session.client("sqs")
        self.table = session.resource("dynamodb").Table(resources.table)
        self.resources = resources

    def stage(self, data: bytes, chat_id: int, message_id: int = 1) -> Job:
        pid = str(uuid.uuid4())
        key = original_key(chat_id, pid)
        now = utc_now_iso()
        self.s3.put_object(
            Bucket=self.resources.bucket, Key=key, Body=data, ContentType="image/jpeg"
        )
        self.table.put_item(
            Item={
                "prediction_id": pid,
                "chat_id": chat_id,
                "status": PENDING,
                "original_key": key,
                "created_at": now,
                "expires_at": int(time.time()) + ITEM_TTL_SECONDS,
            }
        )
        return Job(pid, chat_id, self.resources.bucket, key, message_id, now)

    def send(self, jobs: list[Job]) -> None:
        for start in range(0, len(jobs), 10):
            chunk = jobs[start : start + 10]
            self.sqs.send_message_batch(
                QueueUrl=self.resources.queue_url,
                Entries=[{"Id": str(i), "MessageBody": j.to_json()} for i, j in enumerate(chunk)],
            )

    def depth(self) -> tuple[int, int]:
        """(visible, in flight) messages in the jobs queue."""
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.resources.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attrs["ApproximateNumberOfMessages"]),
            int(attrs["ApproximateNumberOfMessagesNotVisible"]),
        )


def bound_to(session, url: str):
    """A session-like object whose clients and resources all talk to `url` (a moto server)."""

    class _Bound:
        def client(self, name):
            return session.client(name, endpoint_url=url)

        def resource(self, name):
            return session.resource(name, endpoint_url=url)

    return _Bound()
