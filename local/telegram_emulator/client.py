"""The one client of the emulator's control API (control.py serves it; docs/local-mode.md
has its table): act as a user, read what the bot sent, arm faults.

Only `requests`, nothing of the server side (Flask, the emulator's state): tooling that
drives a running emulator over HTTP imports this without importing the emulator.
"""

from __future__ import annotations

import requests

# A user's message is delivered synchronously: the call answers after the bot's webhook did,
# so it waits as long as the slowest webhook a test provokes (a big document's download).
DELIVER_TIMEOUT = 120.0
# Reads and settings answer from the emulator's memory.
READ_TIMEOUT = 10.0


class EmulatorClient:
    """One method per control endpoint. A non-2xx answer raises requests.HTTPError with the
    emulator's JSON error in its message. Pass `session` to reuse connections (load tests)."""

    def __init__(
        self,
        base_url: str,
        session: requests.Session | None = None,
        timeout: float = DELIVER_TIMEOUT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # Without a session each call is requests' own one-shot session: it closes its
        # connection, so a client made per call leaves nothing open.
        self.http = session or requests
        self.timeout = timeout

    # -- a user acts: each answers {"update_id", "webhook_status", "message_id"?, ...} ------
    def send_photo(self, chat_id: int, data: bytes, caption: str | None = None) -> dict:
        params = {"caption": caption} if caption else None
        return self._post(f"chats/{chat_id}/photo", data=data, params=params)

    def send_document(
        self,
        chat_id: int,
        data: bytes,
        filename: str,
        mime_type: str | None = None,
        caption: str | None = None,
    ) -> dict:
        params = {"filename": filename, "mime_type": mime_type, "caption": caption}
        params = {k: v for k, v in params.items() if v}
        return self._post(f"chats/{chat_id}/document", data=data, params=params)

    def send_text(self, chat_id: int, text: str) -> dict:
        return self._post(f"chats/{chat_id}/text", json={"text": text})

    def send_update(self, update: dict) -> dict:
        """Deliver this exact Update (an update_id is assigned when it has none)."""
        return self._post("updates", json=update)

    # -- what the bot did ---------------------------------------------------------------------
    def messages(self, chat_id: int) -> list[dict]:
        """What the bot sent to the chat so far, oldest first."""
        return self._get(f"chats/{chat_id}/messages").json()

    def file(self, file_id: str) -> bytes:
        return self._get(f"files/{file_id}").content

    def sent_file(self, message: dict) -> bytes:
        """The photo or document a message of messages() carries, as the bot sent it."""
        url = message.get("photo_url") or message.get("document_url")
        if not url:
            raise ValueError(f"message {message.get('message_id')} carries no file")
        return self._checked(self.http.get(self.base_url + url, timeout=READ_TIMEOUT)).content

    def webhook(self) -> dict | None:
        return self._get("webhook").json()

    def deliveries(self) -> dict:
        return self._get("deliveries").json()

    # -- faults and reset ---------------------------------------------------------------------
    def fault(
        self,
        method: str,
        status: int,
        count: int = 1,
        retry_after: int | None = None,
        description: str | None = None,
    ) -> None:
        """Fail the next `count` calls of a Bot API method (or "download") with `status`."""
        body = {"method": method, "status": status, "count": count}
        if retry_after is not None:
            body["retry_after"] = retry_after
        if description is not None:
            body["description"] = description
        self._post("faults", json=body, timeout=READ_TIMEOUT)

    def clear_faults(self) -> None:
        self._checked(self.http.delete(self._url("faults"), timeout=READ_TIMEOUT))

    def reset(self) -> None:
        """Forget chats, files, messages, faults and stats; the webhook stays."""
        self._post("reset", timeout=READ_TIMEOUT)

    # -- HTTP -----------------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return f"{self.base_url}/emulator/{path}"

    def _post(self, path: str, timeout: float | None = None, **kwargs) -> dict:
        response = self.http.post(self._url(path), timeout=timeout or self.timeout, **kwargs)
        return self._checked(response).json()

    def _get(self, path: str) -> requests.Response:
        return self._checked(self.http.get(self._url(path), timeout=READ_TIMEOUT))

    @staticmethod
    def _checked(response: requests.Response) -> requests.Response:
        if not response.ok:
            raise requests.HTTPError(
                f"{response.status_code} from {response.url}: {response.text[:500]}",
                response=response,
            )
        return response
