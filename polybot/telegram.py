"""A small, safe wrapper around pyTelegramBotAPI's TeleBot.

Why it exists:
- pyTelegramBotAPI's exceptions (and the requests exceptions under them) can carry the request
  URL, which contains the bot token. Every failure is re-raised as one of the exceptions below,
  with a message built here and the original chained away (`from None`).
- One retry policy for every call: 429 honours `retry_after` within a bounded total wait,
  5xx and connection errors are retried with capped exponential backoff and jitter,
  403 (the user blocked the bot) and 400 are not retried.
- A photo Telegram will not take as a photo is a typed outcome (TelegramPhotoRejected), so the
  caller can send the same bytes as a document without reading Telegram's wording; so is a
  file too big to download (TelegramFileTooBig), so the caller can say so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import requests
import telebot
from telebot import apihelper, types

from common.backoff import Backoff
from common.contracts import RESULTS_BUDGET_SECONDS
from common.jsonlog import event

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5
READ_TIMEOUT = 30
# The Bot API's upload limits (https://core.telegram.org/bots/api#sendphoto and #senddocument):
# "The photo must be at most 10 MB in size" (TDLib's MAX_PHOTO_SIZE, 10 << 20 bytes) and "Bots
# can currently send files of any type of up to 50 MB in size". Checked here, before uploading
# bytes Telegram would refuse. Dimensions (width + height <= 10000, ratio <= 20) need the image
# decoded, which polybot does not do: Telegram's 400 answers them.
PHOTO_MAX_BYTES = 10 * 1024 * 1024
DOCUMENT_MAX_BYTES = 50 * 1024 * 1024
# getFile's answer for a file over the download limit ("Bots can download files of up to 20MB
# in size", https://core.telegram.org/bots/api#getfile) is a 400 whose description is "Bad
# Request: file is too big", with no other marker: get_file() is the one place that reads it.
_FILE_TOO_BIG = "file is too big"


class TelegramError(Exception):
    """A Telegram call failed; the message never contains the token."""

    def __init__(self, method: str, reason: str, status: int | None = None) -> None:
        super().__init__(f"Telegram {method} failed: {reason}")
        self.method = method
        self.reason = reason
        self.status = status


class TelegramUnavailable(TelegramError):
    """Transient: 429 beyond the wait budget, 5xx or connection errors after retries."""


class TelegramBlocked(TelegramError):
    """403: the user blocked the bot (or the bot was removed from the chat)."""


class TelegramRejected(TelegramError):
    """A permanent refusal (400 and other 4xx)."""


class TelegramFileTooBig(TelegramRejected):
    """getFile refused: the file is over the Bot API's download limit."""


class TelegramPhotoRejected(TelegramRejected):
    """sendPhoto refused the photo itself (too many bytes, dimensions, format): permanent, but
    the same bytes may still be sent as a document.

    Raised before any call when the bytes are over the photo limit, and for a 400 or 413
    answer to sendPhoto: everything else polybot sends with a photo is checked on its side
    (its own chat id, a caption of at most 1024 characters, a reply that may be missing), so
    such a refusal is the photo's. Should it not be (e.g. the chat is gone), the document is
    refused the same way and the caller falls back once more.
    """


class _TimeoutSession(requests.Session):
    """pyTelegramBotAPI downloads files without a timeout; this session always sets one."""

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", (CONNECT_TIMEOUT, READ_TIMEOUT))
        return super().request(method, url, *args, **kwargs)


def configure_api(base_url: str) -> None:
    """Point pyTelegramBotAPI at `base_url` (real Telegram or the local emulator).

    The library keeps these as module globals, so this is process-wide; every polybot
    process talks to exactly one Telegram.
    """
    base = base_url.rstrip("/")
    apihelper.API_URL = base + "/bot{0}/{1}"
    apihelper.FILE_URL = base + "/file/bot{0}/{1}"
    apihelper.CONNECT_TIMEOUT = CONNECT_TIMEOUT
    apihelper.READ_TIMEOUT = READ_TIMEOUT
    apihelper.session = _TimeoutSession()


def new_bot(token: str) -> telebot.TeleBot:
    return telebot.TeleBot(token, threaded=False)


def _reply_to(message_id: int | None) -> types.ReplyParameters | None:
    if message_id is None:
        return None
    # The original message may be gone by the time the answer is ready: send anyway.
    return types.ReplyParameters(message_id=message_id, allow_sending_without_reply=True)


class TelegramClient:
    def __init__(
        self,
        bot: Any,
        *,
        max_wait: float = RESULTS_BUDGET_SECONDS,
        attempts: int = 4,
        base_delay: float = 0.5,
        max_delay: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bot = bot
        # The retry budget: no retry starts later than this after the first attempt (the
        # calls' own time counts too), so /results answers within the worker's patience.
        self.max_wait = max_wait
        self.attempts = attempts
        self.backoff = Backoff(base_delay, max_delay)  # the waits between attempts
        self._sleep = sleep
        self._clock = clock

    # --- the calls polybot makes -------------------------------------------------------
    def get_file(self, file_id: str) -> tuple[str, int | None]:
        """Raises TelegramFileTooBig when the file is over Telegram's download limit."""
        try:
            info = self._call("getFile", self.bot.get_file, file_id)
        except TelegramRejected as exc:
            if exc.status == 400 and _FILE_TOO_BIG in exc.reason.lower():
                raise TelegramFileTooBig(exc.method, exc.reason, exc.status) from None
            raise
        return info.file_path, info.file_size

    def download_file(self, file_path: str) -> bytes:
        return self._call("downloadFile", self.bot.download_file, file_path)

    def send_message(self, chat_id: int, text: str, reply_to: int | None = None) -> None:
        reply = _reply_to(reply_to)
        self._call("sendMessage", self.bot.send_message, chat_id, text, reply_parameters=reply)

    def send_photo(
        self, chat_id: int, photo: bytes, caption: str, reply_to: int | None = None
    ) -> None:
        """Raises TelegramPhotoRejected when these bytes cannot be a Telegram photo."""
        if len(photo) > PHOTO_MAX_BYTES:
            raise TelegramPhotoRejected(
                "sendPhoto", f"{len(photo)} bytes is over the {PHOTO_MAX_BYTES}-byte photo limit"
            )
        try:
            self._call(
                "sendPhoto",
                self.bot.send_photo,
                chat_id,
                photo,
                caption=caption,
                reply_parameters=_reply_to(reply_to),
            )
        except TelegramRejected as exc:
            if exc.status in (400, 413):
                raise TelegramPhotoRejected(exc.method, exc.reason, exc.status) from None
            raise

    def send_document(
        self,
        chat_id: int,
        document: bytes,
        filename: str,
        caption: str,
        reply_to: int | None = None,
    ) -> None:
        if len(document) > DOCUMENT_MAX_BYTES:
            raise TelegramRejected(
                "sendDocument",
                f"{len(document)} bytes is over the {DOCUMENT_MAX_BYTES}-byte document limit",
            )
        self._call(
            "sendDocument",
            self.bot.send_document,
            chat_id,
            document,
            caption=caption,
            visible_file_name=filename,
            reply_parameters=_reply_to(reply_to),
        )

    def set_webhook(self, **kwargs: Any) -> None:
        self._call("setWebhook", self.bot.set_webhook, **kwargs)

    # --- retry policy ------------------------------------------------------------------
    def _call(self, method: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        waited, started = 0.0, self._clock()
        for attempt in range(1, self.attempts + 1):
            try:
                return fn(*args, **kwargs)
            except apihelper.ApiTelegramException as exc:
                error = _from_api_error(method, exc.error_code, exc.description)
                wait = _retry_after(exc) if exc.error_code == 429 else None
            except apihelper.ApiHTTPException as exc:
                status = getattr(exc.result, "status_code", None)
                error = _from_api_error(method, status, f"HTTP {status}")
                wait = None
            except apihelper.ApiException as exc:
                # e.g. a non-JSON 200: the message holds the response body, keep it out.
                error = TelegramUnavailable(method, type(exc).__name__)
                wait = None
            except requests.RequestException as exc:
                # Their text includes the request URL, i.e. the token: log only the type.
                error = TelegramUnavailable(method, f"connection error ({type(exc).__name__})")
                wait = None
            if not isinstance(error, TelegramUnavailable) or attempt == self.attempts:
                raise error from None
            if wait is None:
                wait = self.backoff.delay(attempt)
            spent = max(waited, self._clock() - started)  # sleeps alone, when sleep is a fake
            if spent + wait > self.max_wait:
                raise TelegramUnavailable(method, f"{error.reason}; retry budget spent") from None
            log.warning(
                "Telegram %s: %s; retrying in %.1fs",
                method,
                error.reason,
                wait,
                extra=event("telegram.retry", method=method, retry_in_s=round(wait, 1)),
            )
            self._sleep(wait)
            waited += wait
        raise AssertionError("unreachable")  # pragma: no cover


def _retry_after(exc: apihelper.ApiTelegramException) -> float:
    params = (exc.result_json or {}).get("parameters") or {}
    value = params.get("retry_after")
    return float(value) if isinstance(value, int | float) and value >= 0 else 1.0


def _from_api_error(method: str, status: int | None, description: str) -> TelegramError:
    reason = f"{status} {description}"
    if status == 429 or status is None or status >= 500:
        return TelegramUnavailable(method, reason, status)
    if status == 403:
        return TelegramBlocked(method, reason, status)
    return TelegramRejected(method, reason, status)
