"""polybot's reads and conditional writes on the predictions table.

Every write that must happen once is a conditional write, so concurrent requests (two
gunicorn threads, two instances, a Telegram redelivery) agree on one winner without locks.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from common.contracts import ITEM_TTL_SECONDS, PENDING, utc_now_iso

# A queue claim older than this is presumed dead (its process crashed between the claim and
# the SQS send); a redelivery may then take it over.
CLAIM_LEASE_SECONDS = 60


def _conditional(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] == "ConditionalCheckFailedException"


def get(table: Any, prediction_id: str) -> dict | None:
    return table.get_item(Key={"prediction_id": prediction_id}, ConsistentRead=True).get("Item")


def create_pending(table: Any, fields: dict) -> bool:
    """Create the PENDING item holding the queue claim; False when it already exists."""
    now = time.time()
    item = {
        **fields,
        "status": PENDING,
        "created_at": utc_now_iso(),
        "expires_at": int(now) + ITEM_TTL_SECONDS,
        "claim_at": int(now),
    }
    try:
        table.put_item(Item=item, ConditionExpression="attribute_not_exists(prediction_id)")
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
            Key={"prediction_id": prediction_id},
            UpdateExpression="SET claim_at = :now",
            ConditionExpression=(
                "attribute_exists(prediction_id) AND attribute_not_exists(queued_at) AND "
                "(attribute_not_exists(claim_at) OR claim_at < :stale)"
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
        Key={"prediction_id": prediction_id},
        UpdateExpression="SET queued_at = :now REMOVE claim_at",
        ExpressionAttributeValues={":now": utc_now_iso()},
    )


def release_queue_claim(table: Any, prediction_id: str) -> None:
    table.update_item(
        Key={"prediction_id": prediction_id},
        UpdateExpression="REMOVE claim_at",
        ConditionExpression="attribute_not_exists(queued_at)",
    )


def claim_notification(table: Any, prediction_id: str) -> bool:
    """Set notified_at once; False when another call already did (or is doing) it."""
    try:
        table.update_item(
            Key={"prediction_id": prediction_id},
            UpdateExpression="SET notified_at = :now",
            ConditionExpression=(
                "attribute_exists(prediction_id) AND attribute_not_exists(notified_at)"
            ),
            ExpressionAttributeValues={":now": utc_now_iso()},
        )
    except ClientError as exc:
        if _conditional(exc):
            return False
        raise
    return True


def release_notification(table: Any, prediction_id: str) -> None:
    table.update_item(Key={"prediction_id": prediction_id}, UpdateExpression="REMOVE notified_at")
