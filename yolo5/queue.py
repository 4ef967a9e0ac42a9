"""The SQS jobs queue as the worker sees it: receive, delete, release, extend."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from common.jsonlog import event

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int

    @classmethod
    def from_sqs(cls, raw: dict) -> Message:
        count = raw.get("Attributes", {}).get("ApproximateReceiveCount", "1")
        return cls(raw["MessageId"], raw["ReceiptHandle"], raw.get("Body", ""), int(count))


class JobsQueue:
    def __init__(self, sqs, url: str) -> None:
        self._sqs = sqs
        self.url = url

    def limits(self, fallback_max_receive: int) -> tuple[int, int]:
        """(maxReceiveCount from the RedrivePolicy, VisibilityTimeout), read once at startup."""
        try:
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=self.url, AttributeNames=["RedrivePolicy", "VisibilityTimeout"]
            )["Attributes"]
        except (ClientError, BotoCoreError) as exc:
            logger.warning(
                "queue attributes unreadable (%s); using fallbacks",
                exc,
                extra=event("queue.attributes_unreadable"),
            )
            return fallback_max_receive, 30
        max_receive = fallback_max_receive
        if "RedrivePolicy" in attributes:
            try:
                max_receive = int(json.loads(attributes["RedrivePolicy"])["maxReceiveCount"])
            except (ValueError, KeyError, TypeError):
                logger.warning(
                    "RedrivePolicy unreadable; maxReceiveCount=%s",
                    max_receive,
                    extra=event("queue.redrive_unreadable"),
                )
        return max_receive, int(attributes.get("VisibilityTimeout", 30))

    def receive(self, max_messages: int, wait_seconds: int) -> list[Message]:
        response = self._sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["ApproximateReceiveCount"],
        )
        return [Message.from_sqs(raw) for raw in response.get("Messages", [])]

    def delete(self, message: Message) -> None:
        self._sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message.receipt_handle)

    def set_visibility(self, message: Message, seconds: int) -> bool:
        """Best effort: a handle may be stale (message already deleted); say so, don't raise."""
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=message.receipt_handle, VisibilityTimeout=seconds
            )
        except (ClientError, BotoCoreError) as exc:
            logger.warning(
                "visibility change failed for %s: %s",
                message.message_id,
                exc,
                extra=event("visibility.change_failed"),
            )
            return False
        return True
