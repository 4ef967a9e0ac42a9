"""The Bot API methods the emulator implements, with Telegram's limits and error wording."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from . import shapes
from .media import NotAnImage, store_photo
from .state import EmulatorState, Webhook

# Telegram's limits, so that a bot that works here works there.
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
MAX_PHOTO_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_TEXT_CHARS = 4096
MAX_CAPTION_CHARS = 1024
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_CHAT_ACTIONS = {
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
}


class ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def bad_request(reason: str) -> ApiError:
    return ApiError(400, f"Bad Request: {reason}")


def _int(params: Mapping, name: str, missing: str) -> int:
    value = params.get(name)
    if value is None or value == "":
        raise bad_request(missing)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid {name} specified") from None


def _chat_id(params: Mapping) -> int:
    try:
        return _int(params, "chat_id", "chat_id is empty")
    except ApiError:
        raise bad_request("chat not found") from None


def _json_param(params: Mapping, name: str) -> object:
    value = params.get(name)
    if value is None or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise bad_request(f"can't parse {name} JSON object") from None


def _reply_to(state: EmulatorState, params: Mapping, chat_id: int) -> dict:
    """reply_parameters (JSON) or the legacy reply_to_message_id; lenient on unknown ids."""
    reply = _json_param(params, "reply_parameters")
    message_id = reply.get("message_id") if isinstance(reply, dict) else None
    message_id = message_id or params.get("reply_to_message_id")
    if message_id in (None, ""):
        return {}
    try:
        message_id = int(message_id)
    except (TypeError, ValueError):
        raise bad_request("invalid reply_parameters specified") from None
    original = state.user_message(chat_id, message_id)
    return {"reply_to_message": original, "_reply_to_message_id": message_id}


def _record_and_build(state, bot_id, chat_id, method, reply, **content) -> dict:
    message_id = state.next_message_id(chat_id)
    built = shapes.message(
        message_id,
        chat_id,
        shapes.bot_user(bot_id),
        reply_to_message=reply.get("reply_to_message"),
        **content,
    )
    entry = {
        "method": method,
        "message_id": message_id,
        "date": built["date"],
        "reply_to_message_id": reply.get("_reply_to_message_id"),
    }
    if "text" in content:
        entry["text"] = content["text"]
    else:
        entry["caption"] = content.get("caption")
        entry["photo_url"] = f"/emulator/files/{content['photo'][-1]['file_id']}"
    for key in ("parse_mode",):
        if content.get(key):
            entry[key] = content[key]
    state.record_sent(chat_id, entry)
    return built


def get_me(state, params, files, bot_id):
    return shapes.bot_user(bot_id)


def set_webhook(state, params, files, bot_id):
    url = params.get("url") or ""
    if not url:
        state.set_webhook(None)
        return True
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    secret = params.get("secret_token") or None
    if secret is not None and not _SECRET_TOKEN.match(secret):
        raise bad_request("secret token contains unallowed characters")
    allowed = _json_param(params, "allowed_updates") or []
    if not isinstance(allowed, list) or not all(isinstance(kind, str) for kind in allowed):
        raise bad_request("can't parse allowed_updates JSON array")
    max_connections = _int(
        {"max_connections": params.get("max_connections") or 40},
        "max_connections",
        "max_connections is empty",
    )
    if not 1 <= max_connections <= 100:
        raise bad_request("bad webhook: max_connections must be between 1 and 100")
    upload = files.get("certificate")
    state.set_webhook(
        Webhook(
            url=url,
            secret_token=secret,
            allowed_updates=tuple(allowed),
            max_connections=max_connections,
            certificate=upload.read() if upload else None,
            ip_address=params.get("ip_address") or None,
        )
    )
    return True


def delete_webhook(state, params, files, bot_id):
    state.set_webhook(None)
    return True


def get_webhook_info(state, params, files, bot_id):
    webhook = state.webhook
    info: dict = {
        "url": webhook.url if webhook else "",
        "pending_update_count": 0,
        "has_custom_certificate": bool(webhook and webhook.certificate),
    }
    if webhook:
        info["max_connections"] = webhook.max_connections
        if webhook.allowed_updates:
            info["allowed_updates"] = list(webhook.allowed_updates)
        if webhook.ip_address:
            info["ip_address"] = webhook.ip_address
        last_error = state.last_delivery_error()
        if last_error:
            info["last_error_date"], info["last_error_message"] = last_error
    return info


def get_file(state, params, files, bot_id):
    stored = state.file(params.get("file_id") or "")
    if stored is None:
        raise bad_request("invalid file_id")
    if stored.size > MAX_DOWNLOAD_BYTES:
        raise bad_request("file is too big")
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": stored.size,
        "file_path": stored.file_path,
    }


def send_message(state, params, files, bot_id):
    chat_id = _chat_id(params)
    text = params.get("text") or ""
    if not text.strip():
        raise bad_request("message text is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise bad_request("message is too long")
    reply = _reply_to(state, params, chat_id)
    return _record_and_build(
        state, bot_id, chat_id, "sendMessage", reply, text=text, parse_mode=params.get("parse_mode")
    )


def _photo_sizes(state: EmulatorState, params: Mapping, files: Mapping) -> list[dict]:
    upload = files.get("photo")
    if upload is not None:
        data = upload.read()
        if len(data) > MAX_PHOTO_UPLOAD_BYTES:
            raise bad_request("file is too big")
        try:
            return store_photo(state, data)
        except NotAnImage:
            raise bad_request("IMAGE_PROCESS_FAILED") from None
    file_id = params.get("photo")
    stored = state.file(file_id) if isinstance(file_id, str) else None
    if stored is None:
        # URLs are not fetched: the emulator is offline like the machine it runs on.
        raise bad_request("wrong file identifier/HTTP URL specified")
    try:
        return store_photo(state, stored.data)
    except NotAnImage:
        raise bad_request("IMAGE_PROCESS_FAILED") from None


def send_photo(state, params, files, bot_id):
    chat_id = _chat_id(params)
    caption = params.get("caption") or None
    if caption and len(caption) > MAX_CAPTION_CHARS:
        raise bad_request("message caption is too long")
    reply = _reply_to(state, params, chat_id)
    photo = _photo_sizes(state, params, files)
    return _record_and_build(
        state,
        bot_id,
        chat_id,
        "sendPhoto",
        reply,
        photo=photo,
        caption=caption,
        parse_mode=params.get("parse_mode"),
    )


def send_chat_action(state, params, files, bot_id):
    _chat_id(params)
    if params.get("action") not in _CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    return True


Handler = Callable[[EmulatorState, Mapping, Mapping, int], object]
METHODS: dict[str, Handler] = {
    "getme": get_me,
    "setwebhook": set_webhook,
    "deletewebhook": delete_webhook,
    "getwebhookinfo": get_webhook_info,
    "getfile": get_file,
    "sendmessage": send_message,
    "sendphoto": send_photo,
    "sendchataction": send_chat_action,
}
