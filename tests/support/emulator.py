"""The Telegram Bot API emulator over real HTTP, with a thin client for its control API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import requests

from local.telegram_emulator import create_app
from tests.support.servers import serve_wsgi

TEST_TOKEN = "123456789:TEST-emulator-token-0123456789abcdef"


@dataclass(frozen=True)
class EmulatorHandle:
    base_url: str
    token: str
    app: object  # the Flask app, for tests that want its state

    @property
    def api_url(self) -> str:
        """For pyTelegramBotAPI: apihelper.API_URL = handle.api_url."""
        return f"{self.base_url}/bot{{0}}/{{1}}"

    @property
    def file_url(self) -> str:
        """For pyTelegramBotAPI: apihelper.FILE_URL = handle.file_url."""
        return f"{self.base_url}/file/bot{{0}}/{{1}}"

    def _post(self, path: str, **kwargs) -> dict:
        response = requests.post(f"{self.base_url}{path}", timeout=90, **kwargs)
        response.raise_for_status()
        return response.json()

    def send_photo(self, chat_id: int, data: bytes, caption: str | None = None) -> dict:
        params = {"caption": caption} if caption else None
        return self._post(f"/emulator/chats/{chat_id}/photo", data=data, params=params)

    def send_document(
        self, chat_id: int, data: bytes, filename: str, mime_type: str | None = None
    ) -> dict:
        params = {"filename": filename}
        if mime_type:
            params["mime_type"] = mime_type
        return self._post(f"/emulator/chats/{chat_id}/document", data=data, params=params)

    def send_text(self, chat_id: int, text: str) -> dict:
        return self._post(f"/emulator/chats/{chat_id}/text", json={"text": text})

    def send_update(self, update: dict) -> dict:
        return self._post("/emulator/updates", json=update)

    def messages(self, chat_id: int) -> list[dict]:
        response = requests.get(f"{self.base_url}/emulator/chats/{chat_id}/messages", timeout=10)
        response.raise_for_status()
        return response.json()

    def wait_for_messages(self, chat_id: int, n: int, timeout: float = 30.0) -> list[dict]:
        """Poll until the bot has sent at least n messages to the chat; fail with what it sent."""
        deadline = time.monotonic() + timeout
        while True:
            sent = self.messages(chat_id)
            if len(sent) >= n:
                return sent
            if time.monotonic() > deadline:
                raise TimeoutError(f"expected {n} messages in chat {chat_id}, got {sent!r}")
            time.sleep(0.1)

    def fault(
        self, method: str, status: int, count: int = 1, retry_after: int | None = None
    ) -> None:
        body = {"method": method, "status": status, "count": count}
        if retry_after is not None:
            body["retry_after"] = retry_after
        self._post("/emulator/faults", json=body)

    def clear_faults(self) -> None:
        requests.delete(f"{self.base_url}/emulator/faults", timeout=10).raise_for_status()

    def reset(self) -> None:
        self._post("/emulator/reset")

    def webhook(self) -> dict | None:
        response = requests.get(f"{self.base_url}/emulator/webhook", timeout=10)
        response.raise_for_status()
        return response.json()

    def deliveries(self) -> dict:
        response = requests.get(f"{self.base_url}/emulator/deliveries", timeout=10)
        response.raise_for_status()
        return response.json()


@contextmanager
def running_emulator(token: str = TEST_TOKEN) -> Iterator[EmulatorHandle]:
    app = create_app(token)
    with serve_wsgi(app) as base_url:
        yield EmulatorHandle(base_url=base_url, token=token, app=app)


@contextmanager
def telebot_pointed_at(handle: EmulatorHandle) -> Iterator[None]:
    """Point pyTelegramBotAPI's module-level URLs at the emulator, restoring them after."""
    from telebot import apihelper

    saved = apihelper.API_URL, apihelper.FILE_URL
    apihelper.API_URL, apihelper.FILE_URL = handle.api_url, handle.file_url
    try:
        yield
    finally:
        apihelper.API_URL, apihelper.FILE_URL = saved
