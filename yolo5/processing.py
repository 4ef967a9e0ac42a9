"""One job, start to finish, split in the stages the worker overlaps.

prepare() (I/O thread): validate the body, skip finished items, download and decode.
complete() (I/O thread): upload the annotated image, mark DONE, notify polybot, delete.
settle() (I/O thread): everything that needs no model: finished items, failures.
The model itself runs in between, on the worker's main thread (Worker.run_job). No stage
raises: each ends in an outcome, and failure bookkeeping (permanent, transient, last attempt)
lives in _fail(). No stage touches the message either: its Outcome says whether it is deleted
or left to come back, and the worker hands that to the one owner of in-flight messages
(VisibilityKeeper.finish).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError

from common.contracts import (
    MISSING_OBJECT_CODES,
    Failure,
    FailureReason,
    InvalidJob,
    Job,
    Status,
    WorkerBuild,
    is_prediction_id,
    predicted_key,
)
from common.jsonlog import event, log_context
from yolo5.detection import Detection, ms_since
from yolo5.errors import PermanentJobError, describe, error_code
from yolo5.images import decode_rgb
from yolo5.notifier import Notified, ResultsNotifier
from yolo5.queue import JobsQueue, Message
from yolo5.store import PredictionStore
from yolo5.visibility import VisibilityKeeper

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    """How a job ended on this worker; the message's fate follows from it (`deletes`)."""

    DONE = "done"  # predicted, recorded, polybot notified, message deleted
    RENOTIFIED = "renotified"  # a redelivered job already finished: notified again, deleted
    FAILED = "failed"  # permanent failure recorded, the user told, message deleted
    DROPPED = "dropped"  # no usable prediction_id to record anything under: deleted
    RETRY = "retry"  # left to come back after the visibility timeout
    DEAD_LETTERED = "dead-lettered"  # last attempt: the user told, left for the dead-letter queue
    CRASHED = "crashed"  # a stage raised (a bug): logged, left to come back

    @property
    def deletes(self) -> bool:
        """True: the message is done with and deleted; False: it is left to come back after
        the visibility timeout (or to move on to the dead-letter queue)."""
        return self in (Outcome.DONE, Outcome.RENOTIFIED, Outcome.FAILED, Outcome.DROPPED)


@dataclass
class Prepared:
    """A received job after prepare(). It is in one of two states: `needs_model` (decoded,
    its pixels in `image`), or not: settle() ends it, because the item was already finished
    (`finished`), or preparing it failed (`error`). The worker lets go of `image` once the
    model is done with it, so after that it needs the model no more."""

    message: Message
    job: Job | None = None
    image: np.ndarray | None = None
    finished: Status | None = None  # a redelivered job whose item is already DONE/FAILED
    error: Exception | None = None
    download_ms: float = 0.0

    @property
    def needs_model(self) -> bool:
        return self.image is not None

    @property
    def prediction_id(self) -> str | None:
        return self.job.prediction_id if self.job else _id_in(self.message.body)


@dataclass(frozen=True)
class Limits:
    """What a job may be given before it fails for good."""

    max_image_bytes: int
    max_image_pixels: int
    # The jobs queue's RedrivePolicy maxReceiveCount, read from the queue at start-up: the
    # attempt that reaches it is the last before SQS dead-letters the message.
    attempts_before_dead_letter: int


class JobProcessor:
    def __init__(
        self,
        s3,
        store: PredictionStore,
        notifier: ResultsNotifier,
        queue: JobsQueue,
        keeper: VisibilityKeeper,
        limits: Limits,
        images_bucket: str | None = None,
    ) -> None:
        self.s3 = s3
        self.store = store
        self.notifier = notifier
        self.queue = queue
        self.keeper = keeper
        self.limits = limits
        self.images_bucket = images_bucket  # when set, the only bucket a job may name

    @property
    def build(self) -> WorkerBuild:
        """The worker build the store stamps on every item it finishes."""
        return self.store.worker

    def prepare(self, message: Message) -> Prepared:
        prepared = Prepared(message)
        try:
            prepared.job = job = Job.from_json(message.body)
            with log_context(prediction_id=job.prediction_id, chat_id=job.chat_id):
                if self.images_bucket and job.bucket != self.images_bucket:
                    raise InvalidJob(f"job names bucket {job.bucket!r}")
                # Only a redelivery can find its item finished, so a first delivery skips the
                # read (one DynamoDB call of six per photo). A second job polybot sends for the
                # same prediction (its claim lapsed) is a first delivery too: it is run again,
                # and the conditional DONE write plus polybot's notified_at claim keep the user
                # from a second answer (tests/reliability/test_faults.py).
                if message.receive_count > 1:
                    status = self.store.status_of(job.prediction_id)
                    if status is not None and status.finished:
                        prepared.finished = status
                        return prepared
                started = time.perf_counter()
                data = self._download(job)
                prepared.download_ms = ms_since(started)
                prepared.image = decode_rgb(
                    data, self.limits.max_image_bytes, self.limits.max_image_pixels
                )
        except InvalidJob as exc:
            logger.warning(
                "invalid job %s: %s", message.message_id, exc, extra=event("job.invalid")
            )
            prepared.error = PermanentJobError(FailureReason.INVALID_JOB)
        except Exception as exc:  # noqa: BLE001 - classified in _fail; the loop must go on
            prepared.error = exc
        return prepared

    def complete(self, prepared: Prepared, detection: Detection) -> Outcome:
        job = prepared.job
        with log_context(prediction_id=job.prediction_id, chat_id=job.chat_id):
            try:
                started = time.perf_counter()
                key = predicted_key(job.prediction_id)
                self.s3.put_object(
                    Bucket=job.bucket,
                    Key=key,
                    Body=detection.annotated_jpeg,
                    ContentType="image/jpeg",
                )
                first = self.store.mark_done(
                    job,
                    detection.labels,
                    detection.counts,
                    detection.inference_ms,
                    key,
                )
                timings = {
                    "download_ms": prepared.download_ms,
                    "inference_ms": detection.inference_ms,
                    "inference_cpu_ms": detection.inference_cpu_ms,
                    "upload_ms": ms_since(started),
                }
                logger.info(
                    "prediction %s: %s",
                    "done" if first else "was already finished",
                    detection.counts,
                    extra=event(
                        "prediction.done" if first else "prediction.already_finished",
                        counts=detection.counts,
                        timings=timings,
                    ),
                )
            except Exception as exc:  # noqa: BLE001 - classified in _fail
                prepared.error = exc
                return self._fail(prepared)
            return self._notify(prepared, Outcome.DONE)

    def settle(self, prepared: Prepared) -> Outcome:
        job = prepared.job
        with log_context(prediction_id=prepared.prediction_id, chat_id=job and job.chat_id):
            if prepared.finished:
                logger.info(
                    "redelivered job already %s: notifying again",
                    prepared.finished,
                    extra=event("job.renotify", status=prepared.finished),
                )
                return self._notify(prepared, Outcome.RENOTIFIED)
            return self._fail(prepared)

    def _fail(self, prepared: Prepared) -> Outcome:
        """A job that failed: retried later, or its failure recorded and told."""
        failure = self._classify(prepared)
        if failure is None:
            return self._retry_later(prepared, "job.retry", "transient failure", prepared.error)
        return self._record(prepared, failure)

    def _classify(self, prepared: Prepared) -> Failure | None:
        """The failure to record: the error's own when retrying cannot help, retries
        exhausted on the last allowed attempt; None when another attempt may succeed."""
        exc, attempt = prepared.error, prepared.message.receive_count
        if isinstance(exc, PermanentJobError):
            reason = str(exc.failure.reason)
            logger.warning(
                "permanent failure: %s", exc.failure, extra=event("job.failed", reason=reason)
            )
            return exc.failure
        if attempt < self.limits.attempts_before_dead_letter:
            return None
        logger.error(
            "failed on the last allowed attempt (%s): %s",
            attempt,
            describe(exc),
            extra=event("job.retries_exhausted", attempt=attempt, error=error_code(exc)),
        )
        return Failure(FailureReason.RETRIES_EXHAUSTED)

    def _record(self, prepared: Prepared, failure: Failure) -> Outcome:
        """Record the failure on the item and tell the user (through polybot)."""
        pid = prepared.prediction_id
        if pid is None:
            logger.error(
                "job %s has no usable prediction_id; dropping it",
                prepared.message.message_id,
                extra=event("job.dropped"),
            )
            return Outcome.DROPPED
        try:
            self.store.mark_failed(pid, failure, prepared.job)
        except (ClientError, BotoCoreError) as store_exc:
            return self._retry_later(
                prepared, "job.failure_unrecorded", "could not record the failure", store_exc
            )
        if isinstance(prepared.error, PermanentJobError):
            return self._notify(prepared, Outcome.FAILED)
        # Last attempt of a transient failure: the user hears back now, and the message is left
        # to move on to the dead-letter queue, where its alarm tells operators something is off.
        self.notifier.notify(pid)
        return Outcome.DEAD_LETTERED

    def _retry_later(self, prepared: Prepared, name: str, what: str, exc: Exception) -> Outcome:
        """Leave the message to come back after the visibility timeout, for another try."""
        logger.warning(
            "%s, the message will come back: %s",
            what,
            describe(exc),
            extra=event(name, error=error_code(exc)),
        )
        return Outcome.RETRY

    def _notify(self, prepared: Prepared, outcome: Outcome) -> Outcome:
        started = time.perf_counter()
        notified = self.notifier.notify(prepared.prediction_id)
        logger.info(
            "polybot notified: %s",
            notified.value,
            extra=event(
                "polybot.notified",
                notified=notified.value,
                timings={"notify_ms": ms_since(started)},
            ),
        )
        if notified is Notified.UNAVAILABLE:
            # The item is finished, so a redelivery only notifies again. On the last attempt the
            # message goes on to the dead-letter queue, where the DLQ alarm picks it up.
            return Outcome.RETRY
        return outcome

    def _download(self, job: Job) -> bytes:
        try:
            response = self.s3.get_object(Bucket=job.bucket, Key=job.image_key)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in MISSING_OBJECT_CODES:
                raise PermanentJobError(FailureReason.GONE) from None
            raise  # anything but a PermanentJobError is retried: _fail()
        body = response["Body"]
        if response.get("ContentLength", 0) > self.limits.max_image_bytes:
            body.close()
            raise PermanentJobError(FailureReason.TOO_LARGE, size_bytes=response["ContentLength"])
        return body.read(self.limits.max_image_bytes + 1)


def _id_in(body: str) -> str | None:
    """The prediction_id of a job that failed validation, if one can be trusted."""
    try:
        data = json.loads(body)
    except (TypeError, ValueError):
        return None
    pid = data.get("prediction_id") if isinstance(data, dict) else None
    return pid if is_prediction_id(pid) else None
