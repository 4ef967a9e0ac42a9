"""The control API (its table is in docs/local-mode.md): act as a user, inspect what the
bot did, inject faults. Local only: it has no authentication, like the rest of the emulator."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from common.jsonlog import log_context

from . import shapes
from .delivery import deliver
from .media import NotAnImage, store_document, store_photo
from .state import EmulatorState, Fault

log = logging.getLogger(__name__)

bp = Blueprint("control", __name__, url_prefix="/emulator")


def _state() -> EmulatorState:
    return current_app.extensions["telegram_emulator"]


@bp.errorhandler(HTTPException)
def _json_error(exc: HTTPException):
    """Every bad input gets a JSON answer a test (or the chat page) can show."""
    response = jsonify({"error": exc.description, "status": exc.code})
    response.status_code = exc.code or 500
    return response


def _user_update(state: EmulatorState, chat_id: int, **content: object) -> Response:
    message = shapes.message(
        state.next_message_id(chat_id), chat_id, shapes.human_user(chat_id), **content
    )
    state.remember_user_message(message)
    return _deliver({"update_id": state.next_update_id(), "message": message})


def _deliver(update: dict) -> Response:
    with log_context(update_id=update["update_id"]):
        result = deliver(_state(), update)
    body = {"update_id": update["update_id"], "webhook_status": result.status}
    if result.error:
        body["webhook_error"] = result.error
    message = update.get("message")
    if isinstance(message, dict) and "message_id" in message:
        body["message_id"] = message["message_id"]
    return jsonify(body)


def _body() -> bytes:
    data = request.get_data(cache=False)
    if not data:
        abort(400, "empty body: send the file's raw bytes")
    return data


@bp.post("/chats/<int(signed=True):chat_id>/photo")
def send_photo(chat_id: int):
    state = _state()
    try:
        sizes = store_photo(state, _body())
    except NotAnImage as exc:
        abort(400, f"{exc}; send it with /document instead")
    return _user_update(state, chat_id, photo=sizes, caption=request.args.get("caption") or None)


@bp.post("/chats/<int(signed=True):chat_id>/document")
def send_document(chat_id: int):
    filename = request.args.get("filename", "").strip()
    if not filename or "/" in filename:
        abort(400, "filename query parameter is required (a bare file name)")
    state = _state()
    document = store_document(state, _body(), filename, request.args.get("mime_type") or None)
    return _user_update(
        state, chat_id, document=document, caption=request.args.get("caption") or None
    )


@bp.post("/chats/<int(signed=True):chat_id>/text")
def send_text(chat_id: int):
    body = request.get_json(silent=True)
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text:
        abort(400, 'JSON body {"text": "..."} with a non-empty text is required')
    return _user_update(_state(), chat_id, **shapes.text_content(text))


@bp.post("/updates")
def send_update():
    update = request.get_json(silent=True)
    if not isinstance(update, dict):
        abort(400, "the body must be a JSON object (an Update)")
    if not isinstance(update.get("update_id"), int):
        update["update_id"] = _state().next_update_id()
    return _deliver(update)


@bp.get("/chats/<int(signed=True):chat_id>/messages")
def messages(chat_id: int):
    return jsonify(_state().sent(chat_id))


@bp.get("/files/<file_id>")
def file(file_id: str):
    stored = _state().file(file_id)
    if stored is None:
        abort(404, "unknown file_id")
    return Response(stored.data, mimetype=stored.mime_type)


@bp.get("/webhook")
def webhook():
    current = _state().webhook
    return jsonify(current.public_view() if current else None)


@bp.get("/deliveries")
def deliveries():
    return jsonify(_state().deliveries())


@bp.post("/faults")
def add_fault():
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("method"), str):
        abort(400, 'JSON body {"method": ..., "status": ..., "count": n} is required')
    status, count, retry_after = body.get("status"), body.get("count", 1), body.get("retry_after")
    if not isinstance(status, int) or not 400 <= status <= 599:
        abort(400, "status must be an HTTP error status (400..599)")
    if not isinstance(count, int) or count < 1:
        abort(400, "count must be a positive integer")
    if retry_after is not None and (not isinstance(retry_after, int) or retry_after < 0):
        abort(400, "retry_after must be a non-negative integer")
    description = body.get("description")
    fault = Fault(status, count, retry_after, description if isinstance(description, str) else None)
    _state().add_fault(body["method"], fault)
    log.info("armed fault %s x%s for %s", status, count, body["method"])
    return jsonify({"ok": True})


@bp.delete("/faults")
def clear_faults():
    _state().clear_faults()
    return jsonify({"ok": True})


@bp.post("/reset")
def reset():
    _state().reset()
    return jsonify({"ok": True})
