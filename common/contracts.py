"""The contracts between polybot and yolo5: the SQS job, the DynamoDB item, the S3 keys.

Both services import this module, so a field name or a key layout lives in exactly one place.
The JSON fixtures under tests/fixtures/contracts/ pin the wire format; both services' tests
load them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

JOB_VERSION = 1

# DynamoDB item status values; an item moves PENDING -> DONE | FAILED, never back.
PENDING = "PENDING"
DONE = "DONE"
FAILED = "FAILED"

# How long an item lives before DynamoDB's TTL removes it.
ITEM_TTL_SECONDS = 30 * 24 * 3600

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
    return f"originals/{chat_id}/{prediction_id}.{ext}"


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
        prefix = f"originals/{data['chat_id']}/{pid}."
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
