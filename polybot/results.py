"""POST /results?predictionId=<id>: the worker says a prediction is finished; tell the user.

Idempotent: `notified_at` is claimed with a conditional write BEFORE anything is sent, so
concurrent or repeated calls send at most one answer. If sending then fails transiently the
claim is released and the answer is 503, so the worker retries. The answer goes only to the
chat recorded in the item; no request parameter can redirect it.

The answer is the annotated image with the counts as its caption: as a photo, or, when
Telegram will not take it as a photo (over 10 MB, too wide or tall), as a document with the
same caption; only when that is refused too does the caption go alone.

An item that says `reply: false` (only the load test writes them, for chat 0) is claimed like
any other and answered with nothing: the whole path runs, and no chat is flooded.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import PurePosixPath

from botocore.exceptions import BotoCoreError, ClientError
from flask import Blueprint, jsonify, request

from common.contracts import (
    FAILED,
    MISSING_OBJECT_CODES,
    Prediction,
    is_prediction_id,
    predicted_key,
)
from common.jsonlog import event, log_context
from polybot import deps, predictions, replies, versions
from polybot.predictions import Claim
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


class Answer(StrEnum):
    """What /results did, in its 200 answer."""

    NOTIFIED = "notified"
    ALREADY_NOTIFIED = "already notified"
    DROPPED = "dropped (bot blocked)"
    REJECTED = "rejected by Telegram"
    NO_REPLY = "marked notified (no reply asked)"


class _Unavailable(Exception):
    """S3 or Telegram failed transiently: release the claim and let the worker retry."""


@bp.post("/results")
def notify():
    pid = request.args.get("predictionId", "")
    if not is_prediction_id(pid):
        return jsonify(error="predictionId must be a UUID4"), 400
    with log_context(prediction_id=pid):
        try:
            claim, prediction = predictions.claim_answer(deps.clients().table, pid)
        except AWS_ERRORS as exc:
            log.warning("claiming the answer failed", extra=_failed("answer.claim_failed", exc))
            return jsonify(error="temporarily unavailable"), 503
        if claim is Claim.UNKNOWN:
            return jsonify(error="unknown predictionId"), 404
        if claim is Claim.UNFINISHED:
            return jsonify(error="prediction not finished", status=prediction.status), 409
        if claim is Claim.ANSWERED:
            return jsonify(status=Answer.ALREADY_NOTIFIED), 200
        with log_context(chat_id=prediction.chat_id):
            return _answer(prediction)


def _failed(name: str, exc: Exception) -> dict:
    """An AWS failure's event: its type only (a message may quote the request)."""
    return event(name, error=type(exc).__name__)


def _answer(prediction: Prediction):
    """This call holds the claim: answer the user, or release the claim for a retry."""
    clients, pid = deps.clients(), prediction.prediction_id
    # This process answers the item: its worker build is what /version reports next.
    versions.last_worker().saw(prediction.worker)
    if not prediction.reply:
        log.info("no reply asked: nothing sent", extra=event("answer.no_reply"))
        return jsonify(status=Answer.NO_REPLY), 200
    try:
        outcome = _send(prediction)
    except _Unavailable as exc:
        log.warning("answer not sent, worker should retry: %s", exc, extra=event("answer.unsent"))
        try:
            predictions.release_notification(clients.table, pid)
        except AWS_ERRORS as release_exc:
            log.error(
                "notification claim not released", extra=_failed("answer.claim_stuck", release_exc)
            )
        return jsonify(error="temporarily unavailable"), 503
    log.info("user answered: %s", outcome, extra=event("answer.sent", answer=str(outcome)))
    return jsonify(status=outcome), 200


def _send(prediction: Prediction) -> Answer:
    clients = deps.clients()
    chat_id, reply_to = prediction.chat_id, prediction.message_id
    try:
        if prediction.status == FAILED:
            text = replies.failed(prediction.failure, prediction.legacy_error)
            clients.telegram.send_message(chat_id, text, reply_to)
            return Answer.NOTIFIED
        # A DONE item always has counts: yolo5/store.py writes them in the update that sets DONE.
        caption = replies.caption(prediction.counts)
        key = prediction.predicted_key or predicted_key(prediction.prediction_id)
        image = _annotated_image(key)
        if image is None or not _send_image(
            clients.telegram, chat_id, image, PurePosixPath(key).name, caption, reply_to
        ):
            clients.telegram.send_message(chat_id, caption, reply_to)
    except TelegramUnavailable as exc:
        raise _Unavailable(str(exc)) from None
    except TelegramBlocked as exc:
        # The user blocked the bot: there is nobody to tell, and retrying will not help.
        log.info("answer dropped: %s", exc, extra=event("answer.dropped"))
        return Answer.DROPPED
    except TelegramRejected as exc:
        log.error("answer rejected by Telegram: %s", exc, extra=event("answer.rejected"))
        return Answer.REJECTED
    return Answer.NOTIFIED


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
        log.warning(
            "annotated image refused as a photo, sending it as a document: %s",
            exc,
            extra=event("answer.as_document"),
        )
    except TelegramRejected as exc:
        return _caption_only("photo rejected", exc)
    try:
        telegram.send_document(chat_id, image, filename, caption, reply_to)
        return True
    except TelegramRejected as exc:
        return _caption_only("document rejected too", exc)


def _caption_only(because: str, exc: TelegramRejected) -> bool:
    """The image could not be sent: the caller sends the caption alone (False)."""
    log.error(
        "annotated image: %s (%s), sending the caption alone",
        because,
        exc,
        extra=event("answer.caption_only", because=because),
    )
    return False


def _annotated_image(key: str) -> bytes | None:
    clients, settings = deps.clients(), deps.settings()
    try:
        obj = clients.s3.get_object(Bucket=settings.images_bucket, Key=key)
        return obj["Body"].read()
    except ClientError as exc:
        if exc.response["Error"]["Code"] in MISSING_OBJECT_CODES:
            # A worker bug, not a transient failure: the counts still answer the user.
            log.error(
                "annotated image %s missing; sending the caption alone",
                key,
                extra=event("answer.caption_only", because="image missing"),
            )
            return None
        raise _Unavailable(f"reading {key} failed: {exc.response['Error']['Code']}") from None
    except BotoCoreError as exc:
        raise _Unavailable(f"reading {key} failed: {type(exc).__name__}") from None
