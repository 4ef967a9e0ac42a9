"""Reading Bot API parameters, failing the way Telegram does ("Bad Request: ...")."""

from __future__ import annotations

import json
from collections.abc import Mapping


class ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def bad_request(reason: str) -> ApiError:
    return ApiError(400, f"Bad Request: {reason}")


def int_param(params: Mapping, name: str, missing: str) -> int:
    value = params.get(name)
    if value is None or value == "":
        raise bad_request(missing)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid {name} specified") from None


def chat_id_param(params: Mapping) -> int:
    try:
        return int_param(params, "chat_id", "chat_id is empty")
    except ApiError:
        raise bad_request("chat not found") from None


def json_param(params: Mapping, name: str) -> object:
    value = params.get(name)
    if value is None or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise bad_request(f"can't parse {name} JSON object") from None
