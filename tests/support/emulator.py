"""The Telegram Bot API emulator over real HTTP, driven through its control API's client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from local.telegram_emulator import create_app
from local.telegram_emulator.client import EmulatorClient
from tests.support.servers import serve_wsgi

TEST_TOKEN = "123456789:TEST-emulator-token-0123456789abcdef"


class EmulatorHandle(EmulatorClient):
    """A running emulator: its control API (EmulatorClient), its token, and its app."""

    def __init__(self, base_url: str, token: str, app: object) -> None:
        super().__init__(base_url)
        self.token = token
        self.app = app  # the Flask app, for tests that want its state

    @property
    def api_url(self) -> str:
        """For pyTelegramBotAPI: apihelper.API_URL = handle.api_url."""
        return f"{self.base_url}/bot{{0}}/{{1}}"

    @property
    def file_url(self) -> str:
        """For pyTelegramBotAPI: apihelper.FILE_URL = handle.file_url."""
        return f"{self.base_url}/file/bot{{0}}/{{1}}"

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
