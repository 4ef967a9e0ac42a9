"""The Bot API methods the emulator implements, with Telegram's limits and error wording."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import PurePosixPath

from . import shapes
from .media import NotAnImage, document_of, header_size, sniff_mime, store_document, store_photo
from .params import ApiError, bad_request, chat_id_param, json_param
from .state import EmulatorState
from .webhook_methods import delete_webhook, get_webhook_info, set_webhook

# Telegram's limits, so that a bot that works here works there. What a bot sends is limited
# as the Bot API documents it (https://core.telegram.org/bots/api):
# - sendMessage text: "Text of the message to be sent, 1-4096 characters after entities
#   parsing" -> "Bad Request: message is too long".
# - sendPhoto / sendDocument caption: "0-1024 characters after entities parsing"
#   -> "Bad Request: message caption is too long".
# - sendPhoto photo: "The photo must be at most 10 MB in size. The photo's width and height
#   must not exceed 10000 in total. Width and height ratio must be at most 20."
#   Too many bytes: TDLib's check_full_local_location (td/telegram/files/FileLoaderUtils.cpp,
#   MAX_PHOTO_SIZE = 10 << 20) refuses the upload before the image is read; the Bot API
#   answers "Bad Request: file of size <n> bytes is too big for a photo; the maximum size is
#   10485760 bytes" (MTProto clients meet the same limit as PHOTO_SAVE_FILE_INVALID).
#   Bad dimensions: "Bad Request: PHOTO_INVALID_DIMENSIONS" (the server's MTProto error).
# - sendDocument: "Bots can currently send files of any type of up to 50 MB in size"
#   ("Sending Files": multipart uploads, "10 MB max size for photos, 50 MB for other files");
#   a bigger upload is answered 413 "Request Entity Too Large".
# Files re-sent by file_id are not limited ("There are no limits for files sent this way").
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
MAX_PHOTO_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_PHOTO_SIDES_SUM = 10000
MAX_PHOTO_ASPECT_RATIO = 20
MAX_DOCUMENT_UPLOAD_BYTES = 50 * 1024 * 1024
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
    # parse_mode is a request parameter, not a Message field (Telegram answers with the
    # markup turned into entities): only the chat's record keeps it.
    parse_mode = content.pop("parse_mode", None)
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
        if "photo" in content:
            entry["photo_url"] = f"/emulator/files/{content['photo'][-1]['file_id']}"
        if "document" in content:
            entry["document_url"] = f"/emulator/files/{content['document']['file_id']}"
    if parse_mode:
        entry["parse_mode"] = parse_mode
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


def _caption(params: Mapping) -> str | None:
    caption = params.get("caption") or None
    if caption and len(caption) > MAX_CAPTION_CHARS:
        raise bad_request("message caption is too long")
    return caption


def _check_photo_upload(data: bytes) -> None:
    """sendPhoto's documented limits, in Telegram's order: bytes first, then dimensions."""
    if not data:
        raise bad_request("file must be non-empty")
    if len(data) > MAX_PHOTO_UPLOAD_BYTES:
        raise bad_request(
            f"file of size {len(data)} bytes is too big for a photo; "
            f"the maximum size is {MAX_PHOTO_UPLOAD_BYTES} bytes"
        )
    try:
        size = header_size(data)
    except NotAnImage:
        raise bad_request("IMAGE_PROCESS_FAILED") from None
    if size is None:  # too many pixels for Pillow even to open: far past the limits
        raise bad_request("PHOTO_INVALID_DIMENSIONS")
    width, height = size
    if (
        width < 1
        or height < 1
        or width + height > MAX_PHOTO_SIDES_SUM
        or max(width, height) > MAX_PHOTO_ASPECT_RATIO * min(width, height)
    ):
        raise bad_request("PHOTO_INVALID_DIMENSIONS")


def _photo_sizes(state: EmulatorState, params: Mapping, files: Mapping) -> list[dict]:
    upload = files.get("photo")
    if upload is not None:
        data = upload.read()
        _check_photo_upload(data)
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


def _send_media(state, params, files, bot_id, method: str, kind: str, media_of) -> dict:
    """sendPhoto and sendDocument: the chat, the caption and the reply are checked in that
    order before `media_of(state, params, files)` reads the upload or the file_id."""
    chat_id = chat_id_param(params)
    caption = _caption(params)
    reply = _reply_to(state, params, chat_id)
    media = media_of(state, params, files)
    return _record_and_build(
        state,
        bot_id,
        chat_id,
        method,
        reply,
        **{kind: media},
        caption=caption,
        parse_mode=params.get("parse_mode"),
    )


def send_photo(state, params, files, bot_id):
    return _send_media(state, params, files, bot_id, "sendPhoto", "photo", _photo_sizes)


def _upload_name(filename: str | None) -> str:
    """The file name a client gave its upload, without any directory part."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name.strip()
    return name or "document"


def _document(state: EmulatorState, params: Mapping, files: Mapping) -> dict:
    upload = files.get("document")
    if upload is not None:
        data = upload.read()
        if not data:
            raise bad_request("file must be non-empty")
        if len(data) > MAX_DOCUMENT_UPLOAD_BYTES:
            raise ApiError(413, "Request Entity Too Large")
        name = _upload_name(upload.filename)
        return store_document(state, data, name, sniff_mime(data, name))
    file_id = params.get("document")
    stored = state.file(file_id) if isinstance(file_id, str) else None
    if stored is None:
        raise bad_request("wrong file identifier/HTTP URL specified")
    return document_of(stored, stored.file_name or PurePosixPath(stored.file_path).name)


def send_document(state, params, files, bot_id):
    return _send_media(state, params, files, bot_id, "sendDocument", "document", _document)


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
    "senddocument": send_document,
    "sendchataction": send_chat_action,
}
