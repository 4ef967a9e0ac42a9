"""The contracts between polybot and yolo5: the SQS job, the DynamoDB item, the S3 keys.

Both services import this module, so a field name or a key layout lives in exactly one place.
The JSON fixtures under tests/fixtures/contracts/ pin the wire format; both services' tests
load them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum

from common.env import UNKNOWN_VERSION

JOB_VERSION = 1


class Status(StrEnum):
    """The item's status; an item moves PENDING -> DONE | FAILED, never back. The stored
    strings are the values (a StrEnum is a str, so boto3 stores it as one)."""

    PENDING = "PENDING"
    DONE = "DONE"
    FAILED = "FAILED"

    @property
    def finished(self) -> bool:
        return self is not Status.PENDING


PENDING, DONE, FAILED = Status.PENDING, Status.DONE, Status.FAILED

# How long an item lives before DynamoDB's TTL removes it.
ITEM_TTL_SECONDS = 30 * 24 * 3600

# Every original lives under this prefix (the data template's lifecycle rules expire it).
ORIGINALS_PREFIX = "originals/"

# How S3 says an object is not there: GetObject answers NoSuchKey; HeadObject has no body to
# carry a code, so botocore reports its bare 404 as "404" or "NotFound".
MISSING_OBJECT_CODES = ("NoSuchKey", "404", "NotFound")

# The chat of the load test's no-reply items: no Telegram chat has id 0, so even an answer
# sent by mistake reaches nobody.
NO_REPLY_CHAT_ID = 0

# polybot answers POST /results within this many seconds: its Telegram retries (429's
# retry_after, 5xx backoff) stop when the next wait would pass it. The worker waits longer
# than this for the answer (yolo5/notifier.py), so it never gives up on, and calls again over,
# a request that may still send: the second call would hear "already notified" while the
# first could still fail and release its claim, and the answer would be lost.
RESULTS_BUDGET_SECONDS = 30.0

_UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_EXT = re.compile(r"^[a-z0-9]{1,5}$")


class InvalidJob(ValueError):
    """A job body that does not follow the contract: a permanent failure, never retried."""


def is_prediction_id(value: object) -> bool:
    return isinstance(value, str) and bool(_UUID4.match(value))


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def original_key(chat_id: int, prediction_id: str, ext: str = "jpg") -> str:
    if not _EXT.match(ext):
        raise ValueError(f"bad file extension {ext!r}")
    return f"{ORIGINALS_PREFIX}{chat_id}/{prediction_id}.{ext}"


def predicted_key(prediction_id: str) -> str:
    return f"predictions/{prediction_id}.jpg"


@dataclass(frozen=True)
class Job:
    """The SQS message body polybot sends and yolo5 consumes (contract version 1)."""

    prediction_id: str
    chat_id: int
    bucket: str
    image_key: str
    message_id: int
    requested_at: str
    v: int = JOB_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, body: str | bytes) -> Job:
        try:
            data = json.loads(body)
        except (TypeError, ValueError) as exc:
            raise InvalidJob(f"job body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidJob("job body is not a JSON object")
        if data.get("v") != JOB_VERSION:
            raise InvalidJob(f"unsupported job version {data.get('v')!r}")
        return cls._validated(data)

    @classmethod
    def _validated(cls, data: dict) -> Job:
        pid = data.get("prediction_id")
        if not is_prediction_id(pid):
            raise InvalidJob("prediction_id is not a UUID4")
        for name in ("chat_id", "message_id"):
            value = data.get(name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidJob(f"{name} is not an integer")
        for name in ("bucket", "image_key", "requested_at"):
            if not isinstance(data.get(name), str) or not data[name]:
                raise InvalidJob(f"{name} is missing")
        prefix = f"{ORIGINALS_PREFIX}{data['chat_id']}/{pid}."
        if not data["image_key"].startswith(prefix):
            raise InvalidJob("image_key does not match chat_id and prediction_id")
        return cls(
            prediction_id=pid,
            chat_id=data["chat_id"],
            bucket=data["bucket"],
            image_key=data["image_key"],
            message_id=data["message_id"],
            requested_at=data["requested_at"],
        )


class ItemAttr:
    """The prediction item's attribute names (DynamoDB table keyed on prediction_id)."""

    PREDICTION_ID = "prediction_id"
    # polybot creates the item when it takes the photo:
    CHAT_ID = "chat_id"
    MESSAGE_ID = "message_id"
    UPDATE_ID = "update_id"
    ORIGINAL_KEY = "original_key"
    STATUS = "status"  # a DynamoDB reserved word: expressions name it through a #placeholder
    CREATED_AT = "created_at"
    EXPIRES_AT = "expires_at"  # epoch seconds; the table's TTL attribute
    CLAIM_AT = "claim_at"  # epoch seconds; held only while polybot sends the job
    QUEUED_AT = "queued_at"
    # yolo5 sets these when it finishes the item:
    COMPLETED_AT = "completed_at"
    LABELS = "labels"
    COUNTS = "counts"
    INFERENCE_MS = "inference_ms"
    # ... and which worker finished it (WorkerBuild), on DONE and FAILED alike:
    MODEL = "model"
    BACKEND = "backend"  # the inference backend: onnx or torch
    VERSION = "version"  # the commit the worker was built from (APP_VERSION)
    PREDICTED_KEY = "predicted_key"
    FAILURE_REASON = "failure_reason"  # a FailureReason
    FAILURE_DETAIL = "failure_detail"  # Failure's measures, only those known
    # Workers before failure codes wrote the user's sentence here. Read, never written, so
    # items they left behind still get their answer.
    LEGACY_ERROR = "error"
    # polybot claims this before it answers the user:
    NOTIFIED_AT = "notified_at"
    # Absent or true on every item polybot creates from Telegram; false only on the load
    # test's items (chat NO_REPLY_CHAT_ID): /results then marks them notified, sends nothing.
    REPLY = "reply"


def item_key(prediction_id: str) -> dict[str, str]:
    return {ItemAttr.PREDICTION_ID: prediction_id}


def pending_item(
    prediction_id: str,
    chat_id: int,
    original_key: str,
    created_at: str,
    *,
    message_id: int | None = None,
    update_id: int | None = None,
    reply: bool = True,
) -> dict:
    """The PENDING item polybot creates when it takes a photo, and that the benchmarks and
    tests create in its place. message_id and update_id are written when given; reply only
    when false, so polybot's items never carry it (see ItemAttr.REPLY)."""
    item = {
        ItemAttr.PREDICTION_ID: prediction_id,
        ItemAttr.CHAT_ID: chat_id,
        ItemAttr.ORIGINAL_KEY: original_key,
        ItemAttr.STATUS: PENDING,
        ItemAttr.CREATED_AT: created_at,
        ItemAttr.EXPIRES_AT: int(time.time()) + ITEM_TTL_SECONDS,
    }
    if message_id is not None:
        item[ItemAttr.MESSAGE_ID] = message_id
    if update_id is not None:
        item[ItemAttr.UPDATE_ID] = update_id
    if not reply:
        item[ItemAttr.REPLY] = False
    return item


class FailureReason(StrEnum):
    """Why yolo5 finished an item FAILED. The worker stores the code and polybot words it
    (polybot/replies.py), so changing what users read needs no worker deploy."""

    NOT_AN_IMAGE = "NOT_AN_IMAGE"
    DAMAGED = "DAMAGED"  # an image, but truncated or corrupt
    TOO_LARGE = "TOO_LARGE"  # more bytes than the worker accepts
    TOO_MANY_PIXELS = "TOO_MANY_PIXELS"
    GONE = "GONE"  # the original is no longer in S3
    INVALID_JOB = "INVALID_JOB"  # the job broke the contract (or named another bucket)
    RETRIES_EXHAUSTED = "RETRIES_EXHAUSTED"  # transient failures until the last attempt


@dataclass(frozen=True)
class Failure:
    """A FAILED item's reason, with the measures its reply quotes when the worker knew them."""

    reason: FailureReason
    size_bytes: int | None = None  # TOO_LARGE
    width: int | None = None  # TOO_MANY_PIXELS, when the image header gave them
    height: int | None = None

    def to_item(self) -> dict:
        """The attributes that record this failure on the item."""
        attrs: dict = {ItemAttr.FAILURE_REASON: self.reason.value}
        if measures := self._known_measures():
            attrs[ItemAttr.FAILURE_DETAIL] = measures
        return attrs

    @classmethod
    def from_item(cls, item: Mapping) -> Failure | None:
        """None when the item holds no code this version knows (an older or newer worker)."""
        try:
            reason = FailureReason(item.get(ItemAttr.FAILURE_REASON))
        except ValueError:
            return None
        detail = item.get(ItemAttr.FAILURE_DETAIL) or {}
        names = [f.name for f in fields(cls) if f.name != "reason"]
        return cls(reason, **{name: int(detail[name]) for name in names if name in detail})

    def __str__(self) -> str:
        measures = ", ".join(f"{k}={v}" for k, v in self._known_measures().items())
        return f"{self.reason} ({measures})" if measures else str(self.reason)

    def _known_measures(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if k != "reason" and v is not None}


@dataclass(frozen=True)
class WorkerBuild:
    """Which worker finished an item: its model, inference backend and commit. The worker
    writes it on every item it finishes; polybot's /version reports the last one it read."""

    model: str
    backend: str
    version: str

    def to_item(self) -> dict[str, str]:
        return {
            ItemAttr.MODEL: self.model,
            ItemAttr.BACKEND: self.backend,
            ItemAttr.VERSION: self.version,
        }

    @classmethod
    def from_item(cls, item: Mapping) -> WorkerBuild | None:
        """None on an item no worker has stamped (unfinished, or finished by a worker from
        before this field); a part one lacks reads as "unknown"."""
        names = (ItemAttr.MODEL, ItemAttr.BACKEND, ItemAttr.VERSION)
        if not any(item.get(name) for name in names):
            return None
        return cls(*(str(item.get(name) or UNKNOWN_VERSION) for name in names))


@dataclass(frozen=True)
class Prediction:
    """The prediction item as polybot reads it back."""

    prediction_id: str
    chat_id: int
    status: str | None
    message_id: int | None = None
    original_key: str | None = None
    predicted_key: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    failure: Failure | None = None
    legacy_error: str | None = None  # see ItemAttr.LEGACY_ERROR
    notified_at: str | None = None
    reply: bool = True  # see ItemAttr.REPLY
    worker: WorkerBuild | None = None

    @classmethod
    def from_item(cls, item: Mapping) -> Prediction:
        """DynamoDB hands numbers back as Decimal; they come out as ints here."""
        counts = item.get(ItemAttr.COUNTS) or {}
        return cls(
            prediction_id=item[ItemAttr.PREDICTION_ID],
            chat_id=int(item[ItemAttr.CHAT_ID]),
            status=item.get(ItemAttr.STATUS),
            message_id=_optional_int(item.get(ItemAttr.MESSAGE_ID)),
            original_key=item.get(ItemAttr.ORIGINAL_KEY),
            predicted_key=item.get(ItemAttr.PREDICTED_KEY),
            counts={str(name): int(n) for name, n in counts.items()},
            failure=Failure.from_item(item),
            legacy_error=item.get(ItemAttr.LEGACY_ERROR),
            notified_at=item.get(ItemAttr.NOTIFIED_AT),
            # Only an explicit false turns the answer off: a missing or odd value still answers.
            reply=item.get(ItemAttr.REPLY) is not False,
            worker=WorkerBuild.from_item(item),
        )


def _optional_int(value: object) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def most_frequent_first(counts: Mapping[str, int]) -> dict[str, int]:
    """Counts ordered most frequent first, ties by class name, so captions read naturally."""
    pairs = ((str(name), int(n)) for name, n in counts.items())
    return dict(sorted(pairs, key=lambda kv: (-kv[1], kv[0])))


def counts_of(labels: list[dict]) -> dict[str, int]:
    """Per-class counts of detected labels, most frequent first."""
    counts: dict[str, int] = {}
    for label in labels:
        counts[label["class"]] = counts.get(label["class"], 0) + 1
    return most_frequent_first(counts)
