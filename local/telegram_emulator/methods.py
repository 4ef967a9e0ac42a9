"""The Bot API methods the emulator implements, with Telegram's limits and error wording."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from . import shapes
from .media import NotAnImage, store_photo
from .params import bad_request, chat_id_param, json_param
from .state import EmulatorState
from .webhook_methods import delete_webhook, get_webhook_info, set_webhook

# Telegram's limits, so that a bot that works here works there.
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
MAX_PHOTO_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_TEXT_CHARS = 4096
MAX_CAPTION_CHARS = 1024
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


def _reply_to(state: EmulatorState, params: Mapping, chat_id: int) -> dict:
    """reply_parameters (JSON) or the legacy reply_to_message_id; lenient on unknown ids."""
    reply = json_param(params, "reply_parameters")
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
    chat_id = chat_id_param(params)
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
    chat_id = chat_id_param(params)
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
    chat_id_param(params)
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
