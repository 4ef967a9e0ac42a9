"""The photo flow: Telegram file -> S3 original -> PENDING item -> SQS job -> "got it" reply.

Exactly-once design (why it is safe to receive the same update twice, even concurrently):
- The prediction id is derived from (chat_id, message_id), so every delivery of one message
  maps to the same id, S3 key and item.
- The original is stored with If-None-Match: * (never overwritten); the item is created with a
  conditional put that also takes a "queue claim", a lease of CLAIM_LEASE_SECONDS. The claim
  holder sends the SQS job, then sets `queued_at` and drops the claim. A duplicate that finds
  a live claim (or `queued_at`) answers 200 without doing anything; one that finds an expired
  claim and no `queued_at` takes it over and sends the job itself.
- A transient AWS failure before the job is sent makes the webhook answer 503, so Telegram
  redelivers; the claim is released first, so the redelivery finds an item without
  `queued_at`, takes the claim and finishes the job (reusing the stored original). If even the
  release fails, the claim expires after CLAIM_LEASE_SECONDS and a later redelivery finishes.
- Once the job is sent the answer is 200 whatever happens next (a failed `queued_at` write or
  reply), so Telegram has no cause to redeliver. Should a redelivery come anyway, `queued_at`
  stops a second job; without it (its write failed) the claim stops one only until it expires.
  A second job is harmless: the worker finishes an item once (conditional write) and /results
  answers once (the notified_at claim).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import NoReturn

from botocore.exceptions import BotoCoreError, ClientError

from common.contracts import Job, original_key, utc_now_iso
from common.jsonlog import event, log_context
from polybot import predictions, replies
from polybot.clients import Clients
from polybot.settings import Settings
from polybot.telegram import (
    TelegramError,
    TelegramFileTooBig,
    TelegramRejected,
    TelegramUnavailable,
)

log = logging.getLogger(__name__)
AWS_ERRORS = (BotoCoreError, ClientError)


class TryAgain(Exception):
    """A transient failure: answer non-2xx so Telegram delivers the update again."""


class PhotoOutcome(StrEnum):
    QUEUED = "queued"
    DUPLICATE = "duplicate"  # another delivery of this message queued it, or is queueing it
    TOO_BIG = "too big"
    UNFETCHABLE = "unfetchable"  # Telegram would not hand the file over: asked to resend


class _Refused(Exception):
    """The photo will not be processed, and the user has been told why."""

    def __init__(self, outcome: PhotoOutcome) -> None:
        super().__init__(outcome.value)
        self.outcome = outcome


@dataclass(frozen=True)
class PhotoRef:
    chat_id: int
    message_id: int
    update_id: int
    file_id: str
    file_size: int | None
    ext: str
    content_type: str


def prediction_id_for(chat_id: int, message_id: int) -> str:
    """A UUID4-shaped id that is the same for every delivery of one message."""
    digest = hashlib.sha256(f"polybot:{chat_id}:{message_id}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def handle_photo(clients: Clients, settings: Settings, ref: PhotoRef) -> PhotoOutcome:
    """Run the photo flow; returns what happened. Raises TryAgain on transient failures."""
    pid = prediction_id_for(ref.chat_id, ref.message_id)
    with log_context(prediction_id=pid):
        try:
            existing = predictions.get(clients.table, pid)
        except AWS_ERRORS as exc:
            raise TryAgain(f"reading the item failed: {type(exc).__name__}") from exc
        if existing is None:
            try:
                if not _receive(clients, settings, ref, pid):
                    return PhotoOutcome.DUPLICATE
            except _Refused as refused:
                return refused.outcome
        elif not _claim(clients, pid):
            log.info(
                "duplicate delivery of an already queued photo; nothing to do",
                extra=event("photo.duplicate"),
            )
            return PhotoOutcome.DUPLICATE
        key = existing.original_key if existing else original_key(ref.chat_id, pid, ref.ext)
        _send_job(clients, settings, ref, pid, key)
        _tell(clients, ref, replies.RECEIVED)
        return PhotoOutcome.QUEUED


def _receive(clients: Clients, settings: Settings, ref: PhotoRef, pid: str) -> bool:
    """Download and store the photo and create the item: True when this call then holds the
    claim, False when a concurrent delivery does. Raises _Refused."""
    limit = settings.max_photo_bytes
    if ref.file_size is not None and ref.file_size > limit:
        _refuse_too_big(clients, ref, limit, f"declared {ref.file_size} bytes")
    data = _download(clients, ref, limit)
    key = original_key(ref.chat_id, pid, ref.ext)
    try:
        clients.s3.put_object(
            Bucket=settings.images_bucket,
            Key=key,
            Body=data,
            ContentType=ref.content_type,
            IfNoneMatch="*",  # never overwrite an original
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "PreconditionFailed":
            raise TryAgain(f"storing the original failed: {exc.response['Error']['Code']}") from exc
    except BotoCoreError as exc:
        raise TryAgain(f"storing the original failed: {type(exc).__name__}") from exc
    try:
        created = predictions.create_pending(
            clients.table,
            prediction_id=pid,
            chat_id=ref.chat_id,
            message_id=ref.message_id,
            update_id=ref.update_id,
            original_key=key,
        )
    except AWS_ERRORS as exc:
        raise TryAgain(f"creating the item failed: {type(exc).__name__}") from exc
    if not created and not _claim(clients, pid):
        log.info(
            "a concurrent delivery of this photo holds the claim; nothing to do",
            extra=event("photo.claimed_elsewhere"),
        )
        return False
    return True


def _claim(clients: Clients, pid: str) -> bool:
    try:
        return predictions.take_queue_claim(clients.table, pid)
    except AWS_ERRORS as exc:
        raise TryAgain(f"claiming the job failed: {type(exc).__name__}") from exc


def _download(clients: Clients, ref: PhotoRef, limit: int) -> bytes:
    """The photo's bytes. Raises _Refused."""
    try:
        file_path, size = clients.telegram.get_file(ref.file_id)
        if size is not None and size > limit:
            _refuse_too_big(clients, ref, limit, f"getFile says {size} bytes")
        data = clients.telegram.download_file(file_path)
    except TelegramUnavailable as exc:
        raise TryAgain(str(exc)) from None
    except TelegramFileTooBig as exc:
        _refuse_too_big(clients, ref, limit, exc.reason)
    except TelegramRejected as exc:
        log.warning("could not fetch the photo: %s", exc, extra=event("photo.fetch_failed"))
        _tell(clients, ref, replies.RESEND)
        raise _Refused(PhotoOutcome.UNFETCHABLE) from None
    if len(data) > limit:
        _refuse_too_big(clients, ref, limit, f"downloaded {len(data)} bytes")
    return data


def _refuse_too_big(clients: Clients, ref: PhotoRef, limit: int, why: str) -> NoReturn:
    log.info(
        "photo refused as too big: %s (limit %s bytes)",
        why,
        limit,
        extra=event("photo.too_big", limit_bytes=limit),
    )
    _tell(clients, ref, replies.too_big(limit))
    raise _Refused(PhotoOutcome.TOO_BIG)


def _send_job(clients: Clients, settings: Settings, ref: PhotoRef, pid: str, key: str) -> None:
    job = Job(
        prediction_id=pid,
        chat_id=ref.chat_id,
        bucket=settings.images_bucket,
        image_key=key,
        message_id=ref.message_id,
        requested_at=utc_now_iso(),
    )
    try:
        clients.sqs.send_message(QueueUrl=settings.jobs_queue_url, MessageBody=job.to_json())
    except AWS_ERRORS as exc:
        try:
            predictions.release_queue_claim(clients.table, pid)
        except AWS_ERRORS as release_exc:
            log.warning(
                "could not release the claim (expires by itself): %s",
                release_exc,
                extra=event("claim.release_failed"),
            )
        raise TryAgain(f"sending the job failed: {type(exc).__name__}") from exc
    log.info("job queued for %s", key, extra=event("job.queued", image_key=key))
    try:
        predictions.mark_queued(clients.table, pid)
    except AWS_ERRORS as exc:
        # The job is out, and the claim left on the item stops a second one until it expires;
        # past that a redelivery would send another, which the worker and /results make harmless
        # (see the module docstring).
        log.error(
            "job sent but queued_at not recorded: %s", exc, extra=event("job.queued_at_unrecorded")
        )


def _tell(clients: Clients, ref: PhotoRef, text: str) -> None:
    tell(clients, ref.chat_id, text, ref.message_id)


def tell(clients: Clients, chat_id: int, text: str, reply_to: int | None = None) -> None:
    """Best effort: a reply that cannot be delivered must not make Telegram redeliver."""
    try:
        clients.telegram.send_message(chat_id, text, reply_to=reply_to)
    except TelegramError as exc:
        log.warning("reply not delivered: %s", exc, extra=event("reply.undelivered"))
