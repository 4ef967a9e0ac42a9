"""The prediction item in DynamoDB: read its status, finish it exactly once.

Both writes are conditional on the item being PENDING (or absent, if polybot's write was
lost): a redelivered or duplicated job can never overwrite an item that is already finished.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from botocore.exceptions import ClientError

from common.contracts import (
    DONE,
    FAILED,
    PENDING,
    Failure,
    ItemAttr,
    Job,
    Status,
    WorkerBuild,
    item_key,
    pending_item,
    utc_now_iso,
)
from common.jsonlog import event

logger = logging.getLogger(__name__)

_UNFINISHED = f"attribute_not_exists({ItemAttr.PREDICTION_ID}) OR #{ItemAttr.STATUS} = :pending"


class PredictionStore:
    def __init__(self, table, worker: WorkerBuild) -> None:
        self._table = table  # a boto3 DynamoDB Table resource, created once by the caller
        self.worker = worker  # stamped on every item this store finishes, DONE or FAILED

    def status_of(self, prediction_id: str) -> Status | None:
        item = self._table.get_item(
            Key=item_key(prediction_id),
            ProjectionExpression="#status",
            ExpressionAttributeNames={"#status": ItemAttr.STATUS},  # a DynamoDB reserved word
            ConsistentRead=True,
        ).get("Item")
        return None if item is None else Status(item[ItemAttr.STATUS])

    def mark_done(
        self,
        job: Job,
        labels: list[dict],
        counts: dict[str, int],
        inference_ms: float,
        predicted_key: str,
    ) -> bool:
        """True if this call finished the item; False if it was already finished."""
        return self._finish(
            job.prediction_id,
            {
                ItemAttr.LABELS: [_decimal_label(label) for label in labels],
                ItemAttr.COUNTS: counts,
                ItemAttr.INFERENCE_MS: Decimal(str(round(inference_ms, 1))),
                ItemAttr.PREDICTED_KEY: predicted_key,
            },
            DONE,
            job,
        )

    def mark_failed(self, prediction_id: str, failure: Failure, job: Job | None = None) -> bool:
        return self._finish(prediction_id, failure.to_item(), FAILED, job)

    def _finish(self, prediction_id: str, attrs: dict, status: str, job: Job | None) -> bool:
        """SET `attrs`, the status, completed_at and the worker's build, only on an unfinished
        item."""
        attrs = {
            **attrs,
            **self.worker.to_item(),
            ItemAttr.STATUS: status,
            ItemAttr.COMPLETED_AT: utc_now_iso(),
        }
        # Only matters when polybot's PENDING item is missing: keep the item complete.
        kept = {} if job is None else _pending_attrs(job)
        # Every name goes through a #placeholder: some (status) are DynamoDB reserved words.
        assignments = [f"#{name} = :{name}" for name in attrs]
        assignments += [f"#{name} = if_not_exists(#{name}, :{name})" for name in kept]
        try:
            self._table.update_item(
                Key=item_key(prediction_id),
                UpdateExpression="SET " + ", ".join(assignments),
                ConditionExpression=_UNFINISHED,
                ExpressionAttributeNames={f"#{name}": name for name in {**attrs, **kept}},
                ExpressionAttributeValues={
                    ":pending": PENDING,
                    **{f":{name}": value for name, value in {**attrs, **kept}.items()},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                logger.info(
                    "item already finished; left as it is", extra=event("item.already_finished")
                )
                return False
            raise
        return True


def _pending_attrs(job: Job) -> dict:
    """What polybot's PENDING item would hold that the job can tell, less the key (an update
    cannot set it) and the status (the finish writes its own)."""
    item = pending_item(job.prediction_id, job.chat_id, job.image_key, job.requested_at)
    return {k: v for k, v in item.items() if k not in (ItemAttr.PREDICTION_ID, ItemAttr.STATUS)}


def _decimal_label(label: dict) -> dict:
    return {
        "class": label["class"],
        "confidence": Decimal(str(label["confidence"])),
        "bbox": [int(v) for v in label["bbox"]],
    }
