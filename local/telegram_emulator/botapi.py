"""The Bot API's HTTP surface: /bot<token>/<method> and /file/bot<token>/<file_path>.

Parameters arrive the ways pyTelegramBotAPI (and other clients) send them: query string,
url-encoded or multipart form, or a JSON body; uploads as multipart files. Answers use
Telegram's envelope: {"ok": true, "result": ...} or {"ok": false, "error_code", "description"}.
"""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import HTTP_STATUS_CODES

from .methods import METHODS
from .params import ApiError
from .state import EmulatorState, Fault

log = logging.getLogger(__name__)

bp = Blueprint("botapi", __name__)

# Telegram's wording for the errors a bot most often meets.
_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


def _state() -> EmulatorState:
    return current_app.extensions["telegram_emulator"]


def error_response(code: int, description: str, parameters: dict | None = None) -> Response:
    body: dict = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    response = jsonify(body)
    response.status_code = code
    return response


def fault_response(fault: Fault) -> Response:
    if fault.status == 429:
        retry_after = fault.retry_after if fault.retry_after is not None else 1
        return error_response(
            429,
            fault.description or f"Too Many Requests: retry after {retry_after}",
            {"retry_after": retry_after},
        )
    description = (
        fault.description
        or _DESCRIPTIONS.get(fault.status)
        or HTTP_STATUS_CODES.get(fault.status, "Error")
    )
    return error_response(fault.status, description)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge) -> Response:
    return error_response(413, "Request Entity Too Large")


def _token_ok(token: str) -> bool:
    expected = current_app.config["EMULATOR_TOKEN"]
    return hmac.compare_digest(token.encode(), expected.encode())


def _params() -> dict[str, str]:
    params: dict = dict(request.args.items())
    params.update(request.form.items())
    if request.is_json:
        body = request.get_json(silent=True)
        if isinstance(body, dict):
            params.update(body)
    return params


@bp.route("/bot<token>/<method>", methods=["GET", "POST"])
def call(token: str, method: str):
    if not _token_ok(token):
        return error_response(401, "Unauthorized")
    handler = METHODS.get(method.lower())
    if handler is None:
        return error_response(404, "Not Found: method not found")
    state = _state()
    fault = state.take_fault(method)
    if fault is not None:
        log.info("injected fault %s for %s", fault.status, method)
        return fault_response(fault)
    try:
        result = handler(state, _params(), request.files, current_app.config["EMULATOR_BOT_ID"])
    except ApiError as exc:
        return error_response(exc.code, exc.description)
    return jsonify({"ok": True, "result": result})


@bp.route("/file/bot<token>/<path:file_path>", methods=["GET"])
def download(token: str, file_path: str):
    if not _token_ok(token):
        return error_response(401, "Unauthorized")
    state = _state()
    fault = state.take_fault("download")
    if fault is not None:
        return fault_response(fault)
    stored = state.file_by_path(file_path)
    if stored is None:
        return error_response(404, "Not Found")
    return Response(stored.data, mimetype=stored.mime_type)
