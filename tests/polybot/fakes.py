"""A stand-in for pyTelegramBotAPI's TeleBot: records calls, fails on demand."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import SimpleNamespace

import requests
from telebot.apihelper import ApiTelegramException

TOKEN = "424242:FAKE-token-for-unit-tests-0123456789"


def api_error(code: int, description: str, retry_after: int | None = None) -> ApiTelegramException:
    body = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return ApiTelegramException("method", None, body)


def connection_error() -> requests.ConnectionError:
    # What requests really raises: its text names the URL, i.e. the token.
    return requests.ConnectionError(f"Max retries exceeded with url: /bot{TOKEN}/sendPhoto")


@dataclass
class FakeBot:
    files: dict[str, tuple[str, bytes, int | None]] = field(default_factory=dict)
    calls: list[tuple[str, dict]] = field(default_factory=list)
    failures: dict[str, list[Exception]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_file(self, file_id: str, data: bytes, size: int | None = None) -> None:
        self.files[file_id] = (f"photos/{file_id}.jpg", data, len(data) if size is None else size)

    def fail(self, method: str, *errors: Exception) -> None:
        self.failures.setdefault(method, []).extend(errors)

    def sent(self, method: str | None = None) -> list[dict]:
        return [kw for name, kw in self.calls if method is None or name == method]

    def _record(self, method: str, **kwargs) -> None:
        with self.lock:
            pending = self.failures.get(method)
            if pending:
                raise pending.pop(0)
            self.calls.append((method, kwargs))

    def get_file(self, file_id):
        self._record("get_file", file_id=file_id)
        if file_id not in self.files:
            raise api_error(400, "Bad Request: invalid file_id")
        path, _, size = self.files[file_id]
        return SimpleNamespace(file_path=path, file_size=size)

    def download_file(self, file_path):
        self._record("download_file", file_path=file_path)
        for path, data, _ in self.files.values():
            if path == file_path:
                return data
        raise api_error(404, "Not Found")

    def send_message(self, chat_id, text, reply_parameters=None):
        self._record("send_message", chat_id=chat_id, text=text, reply=reply_parameters)

    def send_photo(self, chat_id, photo, caption=None, reply_parameters=None):
        self._record(
            "send_photo", chat_id=chat_id, photo=photo, caption=caption, reply=reply_parameters
        )

    def send_document(
        self, chat_id, document, caption=None, visible_file_name=None, reply_parameters=None
    ):
        self._record(
            "send_document",
            chat_id=chat_id,
            document=document,
            caption=caption,
            filename=visible_file_name,
            reply=reply_parameters,
        )

    def set_webhook(self, **kwargs):
        self._record("set_webhook", **kwargs)
