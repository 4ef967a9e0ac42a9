"""POST /telegram/webhook: authenticate, parse defensively, route each kind of message.

Answers: 403 for a missing/wrong secret token (before the body is read, no side effect),
400 for a body that is not an Update, 413 (Flask's MAX_CONTENT_LENGTH) for a huge body,
503 for a transient failure (Telegram redelivers), 200 for everything else, including
update kinds polybot ignores.
"""

from __future__ import annotations

import hmac
import logging
import string
from enum import StrEnum

from flask import Blueprint, abort, jsonify, request

from common.jsonlog import event, log_context
from polybot import deps, intake, replies, versions
from polybot.intake import PhotoOutcome, PhotoRef, TryAgain
from polybot.settings import WEBHOOK_PATH

log = logging.getLogger(__name__)
bp = Blueprint("webhook", __name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
# Image documents polybot accepts, with the extension its original is stored under.
IMAGE_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/jpg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
    "image/bmp": "bmp",
    "image/tiff": "tiff",
    "image/heic": "heic",
}


_EXT_CHARS = frozenset(string.ascii_lowercase + string.digits)


class Routed(StrEnum):
    """What became of an update that carries no photo."""

    EDITED = "edited message"
    IGNORED = "ignored"
    NOT_AN_IMAGE = "not an image"
    HELP = "help"
    VERSION = "version"
    UNSUPPORTED = "unsupported"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@bp.post(WEBHOOK_PATH)
def receive():
    given = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode(), deps.clients().webhook_secret.encode()):
        log.warning(
            "webhook call with a missing or wrong secret token refused",
            extra=event("webhook.refused"),
        )
        abort(403)
    update = request.get_json(force=True, silent=True)
    if not isinstance(update, dict) or not _is_int(update.get("update_id")):
        log.warning("webhook body is not a Telegram update", extra=event("webhook.malformed"))
        return jsonify(error="not a Telegram update"), 400
    with log_context(update_id=update["update_id"]):
        try:
            outcome = _route(update)
        except TryAgain as exc:
            log.warning(
                "transient failure, asking Telegram to redeliver: %s",
                exc,
                extra=event("webhook.redelivery_asked"),
            )
            return jsonify(error="temporarily unavailable"), 503
    return jsonify(ok=True, outcome=outcome)


def _route(update: dict) -> Routed | PhotoOutcome:
    message = update.get("message")
    if message is None:
        edited = update.get("edited_message")
        chat_id, message_id = _chat_and_message(edited)
        if chat_id is not None:
            intake.tell(deps.clients(), chat_id, replies.EDITED, message_id)
            return Routed.EDITED
        # Channel posts, callbacks, membership changes...: nobody to answer (posting into a
        # channel would be public), so they are acknowledged and ignored.
        log.info(
            "ignored update without a message", extra=event("update.ignored", reason="no message")
        )
        return Routed.IGNORED
    chat_id, message_id = _chat_and_message(message)
    if chat_id is None:
        log.warning(
            "message without a usable chat or message_id ignored",
            extra=event("update.ignored", reason="no chat"),
        )
        return Routed.IGNORED
    with log_context(chat_id=chat_id, message_id=message_id):
        return _route_message(update["update_id"], chat_id, message_id, message)


def _chat_and_message(message: object) -> tuple[int | None, int | None]:
    if not isinstance(message, dict) or not isinstance(message.get("chat"), dict):
        return None, None
    chat_id, message_id = message["chat"].get("id"), message.get("message_id")
    if not _is_int(chat_id) or not _is_int(message_id):
        return None, None
    return chat_id, message_id


def _route_message(
    update_id: int, chat_id: int, message_id: int, message: dict
) -> Routed | PhotoOutcome:
    clients, settings = deps.clients(), deps.settings()
    ref_fields = {"chat_id": chat_id, "message_id": message_id, "update_id": update_id}
    photo = _largest_photo(message.get("photo"))
    if photo is not None:
        ref = PhotoRef(**ref_fields, **photo, ext="jpg", content_type="image/jpeg")
        return intake.handle_photo(clients, settings, ref)
    document = message.get("document")
    if isinstance(document, dict):
        mime = document.get("mime_type")
        file_id = document.get("file_id")
        if isinstance(mime, str) and mime.lower().startswith("image/") and isinstance(file_id, str):
            size = document.get("file_size")
            ref = PhotoRef(
                **ref_fields,
                file_id=file_id,
                file_size=size if _is_int(size) else None,
                ext=_extension(mime.lower()),
                content_type=mime.lower(),
            )
            return intake.handle_photo(clients, settings, ref)
        intake.tell(clients, chat_id, replies.NOT_AN_IMAGE, message_id)
        return Routed.NOT_AN_IMAGE
    if isinstance(message.get("text"), str):
        if _command(message["text"]) == "/version":
            text = replies.version(settings.version, versions.last_worker().build)
            intake.tell(clients, chat_id, text, message_id)
            return Routed.VERSION
        intake.tell(clients, chat_id, replies.HELP, message_id)
        return Routed.HELP
    intake.tell(clients, chat_id, replies.UNSUPPORTED, message_id)
    return Routed.UNSUPPORTED


def _command(text: str) -> str | None:
    """The bot command a text starts with, without the @botname groups add: "/version"."""
    words = text.split(maxsplit=1)
    if not words or not words[0].startswith("/"):
        return None
    return words[0].split("@", 1)[0].lower()


def _largest_photo(sizes: object) -> dict | None:
    """Telegram sends several sizes of one photo; take the biggest one."""
    if not isinstance(sizes, list):
        return None
    usable = [s for s in sizes if isinstance(s, dict) and isinstance(s.get("file_id"), str)]
    if not usable:
        return None

    def area(size: dict) -> tuple[int, int]:
        w, h, n = size.get("width"), size.get("height"), size.get("file_size")
        pixels = w * h if _is_int(w) and _is_int(h) else 0
        return pixels, n if _is_int(n) else 0

    best = max(usable, key=area)
    size = best.get("file_size")
    return {"file_id": best["file_id"], "file_size": size if _is_int(size) else None}


def _extension(mime: str) -> str:
    if mime in IMAGE_EXTENSIONS:
        return IMAGE_EXTENSIONS[mime]
    subtype = "".join(c for c in mime.split("/", 1)[1] if c in _EXT_CHARS)[:5]
    return subtype or "img"
