"""Everything polybot says to a user, in one place."""

from __future__ import annotations

from collections.abc import Mapping

from common.contracts import most_frequent_first

HELP = (
    "Hi! Send me a photo and I will tell you which objects I see in it, "
    "and send it back with the objects marked.\n"
    "Send it as a photo, or as a file if it is an image (JPEG, PNG, ...)."
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


def too_big(limit_bytes: int) -> str:
    return (
        f"This photo is too big for me (the limit is {limit_bytes // (1024 * 1024)} MB). "
        "Please send a smaller one."
    )


def failed(reason: str | None) -> str:
    why = f"\nReason: {reason}" if reason else ""
    return _fit(f"Sorry, I could not detect objects in this photo.{why}", TEXT_LIMIT)


def caption(counts: Mapping[str, int]) -> str:
    """One `class: n` line per class, most frequent first (ties by name)."""
    ordered = most_frequent_first(counts)
    if not ordered:
        return NOTHING_DETECTED
    text = "\n".join(f"{name}: {count}" for name, count in ordered.items())
    return _fit(text, CAPTION_LIMIT)
