"""Everything polybot says to a user, in one place."""

from __future__ import annotations

import re
from collections.abc import Mapping

from common.contracts import Failure, FailureReason, WorkerBuild, most_frequent_first

HELP = (
    "Hi! Send me a photo and I will tell you which objects I see in it, "
    "and send it back with the objects marked.\n"
    "Send it as a photo, or as a file if it is an image (JPEG, PNG, ...).\n"
    "/version shows which release of the bot and of its detector is running."
)
RECEIVED = "Got it — detecting objects…"
NOT_AN_IMAGE = "That file is not an image. Please send a photo (or an image file)."
UNSUPPORTED = "I can only look at photos. Please send me a photo."
EDITED = "I only look at new messages. Please send the photo again as a new message."
NOTHING_DETECTED = "I looked carefully but did not recognise any objects in this photo."
RESEND = "Sorry, something went wrong on my side while receiving your photo. Please send it again."
# The Bot API's limits (https://core.telegram.org/bots/api#sendmessage, #sendphoto): a message
# text is "1-4096 characters after entities parsing", a caption "0-1024 characters". Polybot
# sends no parse_mode, so what it builds here is what Telegram counts.
CAPTION_LIMIT = 1024
TEXT_LIMIT = 4096


def _fit(text: str, limit: int) -> str:
    """text cut to at most `limit` characters, at a line end where it can be, ending in "…"."""
    if len(text) <= limit:
        return text
    head = text[: limit - 2]  # room for "\n…"
    if "\n" in head:
        return head.rsplit("\n", 1)[0] + "\n…"
    return text[: limit - 1] + "…"


_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def short_commit(version: str) -> str:
    """A commit's first 7 hex digits, as git shows it; anything else (unknown) as it is."""
    return version[:7] if _COMMIT.match(version) else version


def version(polybot_version: str, worker: WorkerBuild | None) -> str:
    """The answer to /version, e.g. `polybot 1a2b3c4 · worker 1a2b3c4 · yolov5n (onnx)`."""
    mine = f"polybot {short_commit(polybot_version)}"
    if worker is None:
        return f"{mine} · worker: not seen yet"
    return f"{mine} · worker {short_commit(worker.version)} · {worker.model} ({worker.backend})"


def too_big(limit_bytes: int) -> str:
    return (
        f"This photo is too big for me (the limit is {limit_bytes // (1024 * 1024)} MB). "
        "Please send a smaller one."
    )


_FAILURE_REASONS = {
    FailureReason.NOT_AN_IMAGE: "The file is not an image I can read.",
    FailureReason.DAMAGED: "The image looks damaged or incomplete. Please send it again.",
    FailureReason.GONE: "The photo is no longer available. Please send it again.",
    FailureReason.INVALID_JOB: (
        "Sorry, something went wrong with this request. Please send the photo again."
    ),
    FailureReason.RETRIES_EXHAUSTED: (
        "Sorry, I could not process this photo right now. Please try again later."
    ),
}


def failed(failure: Failure | None, legacy_reason: str | None = None) -> str:
    """The answer to a FAILED prediction. `legacy_reason` is the sentence an item written
    before failure codes carries instead: it was written for users, so it is relayed."""
    reason = failure_reason(failure) if failure else legacy_reason
    why = f"\nReason: {reason}" if reason else ""
    return _fit(f"Sorry, I could not detect objects in this photo.{why}", TEXT_LIMIT)


def failure_reason(failure: Failure) -> str:
    if failure.reason is FailureReason.TOO_LARGE:
        return _too_large(
            None if failure.size_bytes is None else f"{failure.size_bytes // 1024} KiB"
        )
    if failure.reason is FailureReason.TOO_MANY_PIXELS:
        if failure.width and failure.height:
            return _too_large(f"{failure.width}×{failure.height} pixels")
        return _too_large("too many pixels")
    return _FAILURE_REASONS[failure.reason]


def _too_large(detail: str | None) -> str:
    quoted = f" ({detail})" if detail else ""
    return f"The image is too large for me{quoted}. Please send a smaller one."


def caption(counts: Mapping[str, int]) -> str:
    """One `class: n` line per class, most frequent first (ties by name)."""
    ordered = most_frequent_first(counts)
    if not ordered:
        return NOTHING_DETECTED
    text = "\n".join(f"{name}: {count}" for name, count in ordered.items())
    return _fit(text, CAPTION_LIMIT)
