"""GET /healthz (liveness: no dependency calls) and GET /readyz (AWS reachability)."""

from __future__ import annotations

import logging

from botocore.exceptions import BotoCoreError, ClientError
from flask import Blueprint, jsonify

from common.jsonlog import event
from polybot import deps

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    # The commit this image was built from: the rehearsal's ValidateService compares it with
    # the image it deployed.
    return jsonify(status="ok", version=deps.settings().version)


@bp.get("/readyz")
def readyz():
    clients, settings = deps.clients(), deps.settings()
    checks = {
        "s3": lambda: clients.s3.head_bucket(Bucket=settings.images_bucket),
        "sqs": lambda: clients.sqs.get_queue_attributes(
            QueueUrl=settings.jobs_queue_url, AttributeNames=["QueueArn"]
        ),
        "dynamodb": lambda: clients.table.meta.client.describe_table(
            TableName=settings.predictions_table
        ),
    }
    results = {}
    for name, check in checks.items():
        try:
            check()
        except (BotoCoreError, ClientError) as exc:
            log.warning(
                "readiness: %s unreachable: %s",
                name,
                type(exc).__name__,
                extra=event("readiness.unreachable", dependency=name, error=type(exc).__name__),
            )
            results[name] = f"error: {type(exc).__name__}"
        else:
            results[name] = "ok"
    ready = all(value == "ok" for value in results.values())
    return jsonify(status="ready" if ready else "not ready", checks=results), 200 if ready else 503
