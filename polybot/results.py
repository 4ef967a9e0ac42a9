"""POST /results?predictionId=<id>: the worker says a prediction is finished; tell the user.

Idempotent: `notified_at` is claimed with a conditional write BEFORE anything is sent, so
concurrent or repeated calls send at most one answer. If sending then fails transiently the
claim is released and the answer is 503, so the worker retries. The answer goes only to the
chat recorded in the item; no request parameter can redirect it.

The answer is the annotated image with the counts as its caption: as a photo, or, when
Telegram will not take it as a photo (over 10 MB, too wide or tall), as a document with the
same caption; only when that is refused too does the caption go alone.
"""

from __future__ import annotations

import logging
from pathlib import PurePosixPath

from botocore.exceptions import BotoCoreError, ClientError
from flask import Blueprint, jsonify, request

from common.contracts import DONE, FAILED, is_prediction_id, predicted_key
from common.jsonlog import log_context
from polybot import deps, predictions, replies
from polybot.telegram import (
    TelegramBlocked,
    TelegramClient,
    TelegramPhotoRejected,
    TelegramRejected,
    TelegramUnavailable,
)

log = logging.getLogger(__name__)
bp = Blueprint("results", __name__)
AWS_ERRORS = (BotoCoreError, ClientError)


class _Unavailable(Exception):
    """S3 or Telegram failed transiently: release the claim and let the worker retry."""


@bp.post("/results")
def notify():
    pid = request.args.get("predictionId", "")
    if not is_prediction_id(pid):
        return jsonify(error="predictionId must be a UUID4"), 400
    with log_context(prediction_id=pid):
        clients = deps.clients()
        try:
            item = predictions.get(clients.table, pid)
        except AWS_ERRORS as exc:
            log.warning("reading the item failed: %s", type(exc).__name__)
            return jsonify(error="temporarily unavailable"), 503
        if item is None:
            return jsonify(error="unknown predictionId"), 404
        status = item.get("status")
        if status not in (DONE, FAILED):
            return jsonify(error="prediction not finished", status=status), 409
        with log_context(chat_id=int(item["chat_id"])):
            return _answer_once(pid, item)


def _answer_once(pid: str, item: dict):
    clients = deps.clients()
    try:
        if item.get("notified_at") or not predictions.claim_notification(clients.table, pid):
            return jsonify(status="already notified"), 200
    except AWS_ERRORS as exc:
        log.warning("claiming the notification failed: %s", type(exc).__name__)
        return jsonify(error="temporarily unavailable"), 503
    try:
        outcome = _send(item)
    except _Unavailable as exc:
        log.warning("answer not sent, worker should retry: %s", exc)
        try:
            predictions.release_notification(clients.table, pid)
        except AWS_ERRORS as release_exc:
            log.error("notification claim not released: %s", type(release_exc).__name__)
        return jsonify(error="temporarily unavailable"), 503
    log.info("user answered: %s", outcome)
    return jsonify(status=outcome), 200


def _send(item: dict) -> str:
    clients = deps.clients()
    chat_id, reply_to = int(item["chat_id"]), _optional_int(item.get("message_id"))
    try:
        if item["status"] == FAILED:
            clients.telegram.send_message(chat_id, replies.failed(item.get("error")), reply_to)
            return "notified"
        caption = replies.caption(_counts(item))
        key = _predicted_key(item)
        image = _annotated_image(key)
        if image is None or not _send_image(
            clients.telegram, chat_id, image, PurePosixPath(key).name, caption, reply_to
        ):
            clients.telegram.send_message(chat_id, caption, reply_to)
    except TelegramUnavailable as exc:
        raise _Unavailable(str(exc)) from None
    except TelegramBlocked as exc:
        # The user blocked the bot: there is nobody to tell, and retrying will not help.
        log.info("answer dropped: %s", exc)
        return "dropped (bot blocked)"
    except TelegramRejected as exc:
        log.error("answer rejected by Telegram: %s", exc)
        return "rejected by Telegram"
    return "notified"


def _send_image(
    telegram: TelegramClient,
    chat_id: int,
    image: bytes,
    filename: str,
    caption: str,
    reply_to: int | None,
) -> bool:
    """The annotated image with its caption, as a photo or else as a document: True if sent.

    False when Telegram refused it both ways: the caller then sends the caption alone.
    """
    try:
        telegram.send_photo(chat_id, image, caption, reply_to)
        return True
    except TelegramPhotoRejected as exc:
        # Too big or too wide/tall for a photo: a document keeps every pixel, so the user
        # still gets the image (Telegram shows an image document with a preview).
        log.warning("annotated image refused as a photo, sending it as a document: %s", exc)
    except TelegramRejected as exc:
        log.error("annotated photo rejected, sending the caption alone: %s", exc)
        return False
    try:
        telegram.send_document(chat_id, image, filename, caption, reply_to)
        return True
    except TelegramRejected as exc:
        log.error("annotated image rejected as a document too, sending the caption alone: %s", exc)
        return False


def _counts(item: dict) -> dict[str, int]:
    # Every yolo5 version has written counts in the same update that sets DONE
    # (yolo5/store.py), so a DONE item always has them; DynamoDB hands them back as Decimals.
    return {str(k): int(v) for k, v in (item.get("counts") or {}).items()}


def _predicted_key(item: dict) -> str:
    return item.get("predicted_key") or predicted_key(item["prediction_id"])


def _annotated_image(key: str) -> bytes | None:
    clients, settings = deps.clients(), deps.settings()
    try:
        obj = clients.s3.get_object(Bucket=settings.images_bucket, Key=key)
        return obj["Body"].read()
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
            # A worker bug, not a transient failure: the counts still answer the user.
            log.error("annotated image %s missing; sending the caption alone", key)
            return None
        raise _Unavailable(f"reading {key} failed: {exc.response['Error']['Code']}") from None
    except BotoCoreError as exc:
        raise _Unavailable(f"reading {key} failed: {type(exc).__name__}") from None


def _optional_int(value: object) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
