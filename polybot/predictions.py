"""polybot's reads and conditional writes on the predictions table.

Every write that must happen once is a conditional write, so concurrent requests (two
gunicorn threads, two instances, a Telegram redelivery) agree on one winner without locks.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from common.contracts import (
    DONE,
    FAILED,
    ItemAttr,
    Prediction,
    item_key,
    pending_item,
    utc_now_iso,
)

# A queue claim older than this is presumed dead (its process crashed between the claim and
# the SQS send); a redelivery may then take it over.
CLAIM_LEASE_SECONDS = 60
_WIRE = TypeDeserializer()


def _conditional(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] == "ConditionalCheckFailedException"


def get(table: Any, prediction_id: str) -> Prediction | None:
    item = table.get_item(Key=item_key(prediction_id), ConsistentRead=True).get("Item")
    return None if item is None else Prediction.from_item(item)


def create_pending(
    table: Any,
    *,
    prediction_id: str,
    chat_id: int,
    message_id: int,
    update_id: int,
    original_key: str,
) -> bool:
    """Create the PENDING item holding the queue claim; False when it already exists."""
    item = {
        **pending_item(
            prediction_id,
            chat_id,
            original_key,
            utc_now_iso(),
            message_id=message_id,
            update_id=update_id,
        ),
        ItemAttr.CLAIM_AT: int(time.time()),
    }
    try:
        table.put_item(
            Item=item, ConditionExpression=f"attribute_not_exists({ItemAttr.PREDICTION_ID})"
        )
    except ClientError as exc:
        if _conditional(exc):
            return False
        raise
    return True


def take_queue_claim(table: Any, prediction_id: str) -> bool:
    """Claim the right to send this item's job: only if not queued and no live claim."""
    now = int(time.time())
    try:
        table.update_item(
            Key=item_key(prediction_id),
            UpdateExpression=f"SET {ItemAttr.CLAIM_AT} = :now",
            ConditionExpression=(
                f"attribute_exists({ItemAttr.PREDICTION_ID}) AND "
                f"attribute_not_exists({ItemAttr.QUEUED_AT}) AND "
                f"(attribute_not_exists({ItemAttr.CLAIM_AT}) OR {ItemAttr.CLAIM_AT} < :stale)"
            ),
            ExpressionAttributeValues={":now": now, ":stale": now - CLAIM_LEASE_SECONDS},
        )
    except ClientError as exc:
        if _conditional(exc):
            return False
        raise
    return True


def mark_queued(table: Any, prediction_id: str) -> None:
    table.update_item(
        Key=item_key(prediction_id),
        UpdateExpression=f"SET {ItemAttr.QUEUED_AT} = :now REMOVE {ItemAttr.CLAIM_AT}",
        ExpressionAttributeValues={":now": utc_now_iso()},
    )


def release_queue_claim(table: Any, prediction_id: str) -> None:
    table.update_item(
        Key=item_key(prediction_id),
        UpdateExpression=f"REMOVE {ItemAttr.CLAIM_AT}",
        ConditionExpression=f"attribute_not_exists({ItemAttr.QUEUED_AT})",
    )


class Claim(StrEnum):
    """What claim_answer() found."""

    CLAIMED = "claimed"  # this call answers the user
    UNKNOWN = "unknown"  # no such item
    UNFINISHED = "unfinished"  # the worker has not finished it
    ANSWERED = "answered"  # another call already did (or is doing) it


def claim_answer(table: Any, prediction_id: str) -> tuple[Claim, Prediction | None]:
    """Set notified_at once, on a finished item, in one conditional write that also reads the
    item: (CLAIMED, the item), or why not with the item as it was (None when there is none).
    One call where a read and then the claim took two: UpdateItem returns the new item, and on
    a failed condition the old one (ReturnValuesOnConditionCheckFailure, UpdateItem in the
    DynamoDB API Reference)."""
    try:
        item = table.update_item(
            Key=item_key(prediction_id),
            UpdateExpression=f"SET {ItemAttr.NOTIFIED_AT} = :now",
            ConditionExpression=(
                f"attribute_exists({ItemAttr.PREDICTION_ID}) AND "
                f"attribute_not_exists({ItemAttr.NOTIFIED_AT}) AND #status IN (:done, :failed)"
            ),
            ExpressionAttributeNames={"#status": ItemAttr.STATUS},  # a reserved word
            ExpressionAttributeValues={":now": utc_now_iso(), ":done": DONE, ":failed": FAILED},
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )["Attributes"]
    except ClientError as exc:
        if not _conditional(exc):
            raise
        # The old item comes in DynamoDB's wire format: the Table resource converts only
        # successful answers.
        old = exc.response.get("Item")
        if old is None:
            return Claim.UNKNOWN, None
        found = Prediction.from_item({k: _WIRE.deserialize(v) for k, v in old.items()})
        return (Claim.ANSWERED if found.status in (DONE, FAILED) else Claim.UNFINISHED), found
    return Claim.CLAIMED, Prediction.from_item(item)


def release_notification(table: Any, prediction_id: str) -> None:
    table.update_item(
        Key=item_key(prediction_id), UpdateExpression=f"REMOVE {ItemAttr.NOTIFIED_AT}"
    )
