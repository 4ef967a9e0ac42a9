"""Jobs put straight into the queue, as polybot would: original in S3, PENDING item, SQS job.

Used by the worker benchmarks (against a moto server, in resources made by
local.bootstrap.create_resources) and by the AWS load test (against the real bucket, table
and queue, with a test chat id).
"""

from __future__ import annotations

import time
import uuid

from common.contracts import ITEM_TTL_SECONDS, PENDING, Job, original_key, utc_now_iso
from local.bootstrap import Resources


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
