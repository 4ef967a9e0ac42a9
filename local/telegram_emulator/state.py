"""Everything the emulator remembers, behind one lock (werkzeug serves requests in threads).

Counters (update_id, message_id) never go back, not even on reset, as Telegram's never do:
polybot derives a photo's prediction id from (chat_id, message_id) and treats a photo whose
item already exists as a redelivery, so reusing message ids after a reset would silently lose
photos.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

# Files live in memory; past this budget the oldest are forgotten (a load test sends many).
MAX_STORED_BYTES = 512 * 1024 * 1024


@dataclass
class StoredFile:
    """A stored file; `render` makes its bytes on first use when they were not given.

    Photo thumbnails are rendered lazily: polybot only downloads the largest size, so making
    every thumbnail up front spent most of the emulator's CPU on files nobody reads.
    """

    file_id: str
    file_unique_id: str
    file_path: str
    mime_type: str
    content: bytes | None = None
    render: Callable[[], bytes] | None = field(default=None, repr=False)
    # What the memory budget was charged when the file was stored.
    charged: int = 0
    # A document's file name, kept so that re-sending it by file_id keeps its name too.
    file_name: str | None = None

    @property
    def data(self) -> bytes:
        if self.content is None:
            self.content = self.render()  # a benign race: two renders give the same bytes
        return self.content

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class Webhook:
    url: str
    secret_token: str | None = None
    allowed_updates: tuple[str, ...] = ()
    max_connections: int = 40
    certificate: bytes | None = None
    ip_address: str | None = None

    def public_view(self) -> dict:
        """What tests may see: never the secret itself."""
        return {
            "url": self.url,
            "has_secret": self.secret_token is not None,
            "allowed_updates": list(self.allowed_updates),
            "max_connections": self.max_connections,
            "has_certificate": self.certificate is not None,
            "ip_address": self.ip_address,
        }


@dataclass
class Fault:
    status: int
    count: int
    retry_after: int | None = None
    description: str | None = None


@dataclass
class _Deliveries:
    total: int = 0
    by_status: Counter = field(default_factory=Counter)
    recent: deque = field(default_factory=lambda: deque(maxlen=200))
    last_error: tuple[int, str] | None = None


class EmulatorState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # A random start keeps ids unique across emulator restarts against a long-lived store.
        self._next_update_id = 100_000_000 + secrets.randbelow(800_000_000)
        self._next_message_id: dict[int, int] = defaultdict(lambda: 1)
        self._file_seq = 0
        self.webhook: Webhook | None = None
        self._delivery_slots: threading.BoundedSemaphore | None = None
        self._clear()

    def _clear(self) -> None:
        self._files: dict[str, StoredFile] = {}  # insertion order: oldest first
        self._stored_bytes = 0
        self._paths: dict[str, str] = {}
        self._sent: dict[int, list[dict]] = defaultdict(list)
        self._user_messages: dict[tuple[int, int], dict] = {}
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._deliveries = _Deliveries()

    def reset(self) -> None:
        """Forget chats, files, messages, faults and delivery stats; keep the webhook."""
        with self._lock:
            self._clear()

    # ids -------------------------------------------------------------------------------
    def next_update_id(self) -> int:
        with self._lock:
            self._next_update_id += 1
            return self._next_update_id

    def next_message_id(self, chat_id: int) -> int:
        with self._lock:
            message_id = self._next_message_id[chat_id]
            self._next_message_id[chat_id] = message_id + 1
            return message_id

    # files -----------------------------------------------------------------------------
    def store_file(
        self,
        data: bytes | None,
        folder: str,
        ext: str,
        mime_type: str,
        render: Callable[[], bytes] | None = None,
    ) -> StoredFile:
        """Store bytes, or a `render` function that makes them when first downloaded."""
        if (data is None) == (render is None):
            raise ValueError("give either data or render")
        with self._lock:
            self._file_seq += 1
            stored = StoredFile(
                file_id=f"AgAC{secrets.token_urlsafe(24)}",
                file_unique_id=f"AQAD{secrets.token_urlsafe(8)}",
                file_path=f"{folder}/file_{self._file_seq}.{ext}",
                mime_type=mime_type,
                content=data,
                render=render,
                charged=len(data or b""),
            )
            self._files[stored.file_id] = stored
            self._paths[stored.file_path] = stored.file_id
            self._stored_bytes += stored.charged
            while self._stored_bytes > MAX_STORED_BYTES and len(self._files) > 1:
                oldest = self._files.pop(next(iter(self._files)))
                del self._paths[oldest.file_path]
                self._stored_bytes -= oldest.charged
            return stored

    def file(self, file_id: str) -> StoredFile | None:
        with self._lock:
            return self._files.get(file_id)

    def file_by_path(self, file_path: str) -> StoredFile | None:
        with self._lock:
            file_id = self._paths.get(file_path)
            return None if file_id is None else self._files.get(file_id)

    # messages ----------------------------------------------------------------------------
    def remember_user_message(self, message: dict) -> None:
        with self._lock:
            self._user_messages[(message["chat"]["id"], message["message_id"])] = message

    def user_message(self, chat_id: int, message_id: int) -> dict | None:
        with self._lock:
            return self._user_messages.get((chat_id, message_id))

    def record_sent(self, chat_id: int, entry: dict) -> None:
        with self._lock:
            self._sent[chat_id].append(entry)

    def sent(self, chat_id: int) -> list[dict]:
        with self._lock:
            return list(self._sent.get(chat_id, ()))

    # webhook -----------------------------------------------------------------------------
    def set_webhook(self, webhook: Webhook | None) -> None:
        with self._lock:
            self.webhook = webhook
            # Like Telegram, never more concurrent deliveries than max_connections.
            self._delivery_slots = (
                None if webhook is None else threading.BoundedSemaphore(webhook.max_connections)
            )

    def delivery_target(self) -> tuple[Webhook | None, threading.BoundedSemaphore | None]:
        with self._lock:
            return self.webhook, self._delivery_slots

    def record_delivery(self, update_id: int, status: int | None, ms: float, error: str | None):
        with self._lock:
            stats = self._deliveries
            stats.total += 1
            stats.by_status[str(status) if status is not None else "error"] += 1
            stats.recent.append(
                {"update_id": update_id, "status": status, "ms": round(ms, 1), "error": error}
            )
            if error or status is None or not 200 <= status < 300:
                stats.last_error = (int(time.time()), error or f"Wrong response: {status}")

    def deliveries(self) -> dict:
        with self._lock:
            stats = self._deliveries
            return {
                "total": stats.total,
                "by_status": dict(stats.by_status),
                "recent": list(stats.recent),
            }

    def last_delivery_error(self) -> tuple[int, str] | None:
        with self._lock:
            return self._deliveries.last_error

    # faults ------------------------------------------------------------------------------
    def add_fault(self, method: str, fault: Fault) -> None:
        with self._lock:
            self._faults[method.lower()].append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_fault(self, method: str) -> Fault | None:
        """The fault this call of `method` must answer with, if one is armed."""
        with self._lock:
            queue = self._faults.get(method.lower())
            if not queue:
                return None
            fault = queue[0]
            fault.count -= 1
            if fault.count <= 0:
                queue.popleft()
            return fault
