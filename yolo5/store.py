"""The prediction item in DynamoDB: read its status, finish it exactly once.

Both writes are conditional on the item being PENDING (or absent, if polybot's write was
lost): a redelivered or duplicated job can never overwrite an item that is already finished.
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal

from botocore.exceptions import ClientError

from common.contracts import DONE, FAILED, ITEM_TTL_SECONDS, PENDING, Job, utc_now_iso

logger = logging.getLogger(__name__)

_UNFINISHED = "attribute_not_exists(prediction_id) OR #status = :pending"


class PredictionStore:
    def __init__(self, table) -> None:
        self._table = table  # a boto3 DynamoDB Table resource, created once by the caller

    def status_of(self, prediction_id: str) -> str | None:
        item = self._table.get_item(
            Key={"prediction_id": prediction_id},
            ProjectionExpression="#status",
            ExpressionAttributeNames={"#status": "status"},
            ConsistentRead=True,
        ).get("Item")
        return None if item is None else item.get("status")

    def mark_done(
        self,
        job: Job,
        labels: list[dict],
        counts: dict[str, int],
        model: str,
        inference_ms: float,
        predicted_key: str,
    ) -> bool:
        """True if this call finished the item; False if it was already finished."""
        values = {
            ":done": DONE,
            ":labels": [_decimal_label(label) for label in labels],
            ":counts": counts,
            ":model": model,
            ":ms": Decimal(str(round(inference_ms, 1))),
            ":predicted": predicted_key,
        }
        return self._finish(
            job.prediction_id,
            "#status = :done, labels = :labels, counts = :counts, model = :model, "
            "inference_ms = :ms, predicted_key = :predicted",
            values,
            job,
        )

    def mark_failed(self, prediction_id: str, reason: str, job: Job | None = None) -> bool:
        return self._finish(
            prediction_id,
            "#status = :failed, #error = :error",
            {":failed": FAILED, ":error": reason},
            job,
            {"#error": "error"},
        )

    def _finish(
        self,
        prediction_id: str,
        assignments: str,
        values: dict,
        job: Job | None,
        names: dict | None = None,
    ) -> bool:
        values = {**values, ":pending": PENDING, ":now": utc_now_iso()}
        assignments += ", completed_at = :now"
        if job is not None:
            # Only matters when polybot's PENDING item is missing: keep the item complete.
            assignments += (
                ", chat_id = if_not_exists(chat_id, :chat), "
                "original_key = if_not_exists(original_key, :original), "
                "created_at = if_not_exists(created_at, :requested), "
                "expires_at = if_not_exists(expires_at, :expires)"
            )
            values.update(
                {
                    ":chat": job.chat_id,
                    ":original": job.image_key,
                    ":requested": job.requested_at,
                    ":expires": int(time.time()) + ITEM_TTL_SECONDS,
                }
            )
        try:
            self._table.update_item(
                Key={"prediction_id": prediction_id},
                UpdateExpression="SET " + assignments,
                ConditionExpression=_UNFINISHED,
                ExpressionAttributeNames={"#status": "status", **(names or {})},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                logger.info("item already finished; left as it is")
                return False
            raise
        return True


def _decimal_label(label: dict) -> dict:
    return {
        "class": label["class"],
        "confidence": Decimal(str(label["confidence"])),
        "bbox": [int(v) for v in label["bbox"]],
    }
