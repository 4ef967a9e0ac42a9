"""Jobs put straight into the queue, as polybot would: original in S3, PENDING item, SQS job.

Used by the worker benchmarks (against a moto server, in resources made by
local.bootstrap.create_resources) and by the AWS load test (against the real bucket, table
and queue, with a test chat id or none). Standard library and boto3 only, for the load test
in AWS CloudShell.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from common.contracts import Job, original_key, pending_item, utc_now_iso

if TYPE_CHECKING:  # local.bootstrap needs requests, which the load test must not import
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
        self.s3.put_object(
            Bucket=self.resources.bucket, Key=key, Body=data, ContentType="image/jpeg"
        )
        return self._pending(pid, chat_id, key, message_id, reply=True)

    def stage_copy(
        self, source_key: str, chat_id: int, message_id: int = 1, reply: bool = True
    ) -> Job:
        """Like stage(), but the original is a server-side copy of `source_key` in the same
        bucket (S3 CopyObject): nothing is uploaded per job."""
        pid = str(uuid.uuid4())
        ext = source_key.rsplit(".", 1)[-1].lower() if "." in source_key else "jpg"
        key = original_key(chat_id, pid, ext)
        bucket = self.resources.bucket
        self.s3.copy_object(
            Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": source_key}
        )
        return self._pending(pid, chat_id, key, message_id, reply=reply)

    def _pending(self, pid: str, chat_id: int, key: str, message_id: int, reply: bool) -> Job:
        now = utc_now_iso()
        self.table.put_item(Item=pending_item(pid, chat_id, key, now, reply=reply))
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
        def client(self, name, **kwargs):
            return session.client(name, endpoint_url=url, **kwargs)

        def resource(self, name, **kwargs):
            return session.resource(name, endpoint_url=url, **kwargs)

    return _Bound()
