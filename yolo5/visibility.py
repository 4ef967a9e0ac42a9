"""Keep in-flight messages invisible while they are being worked on.

A background thread extends the visibility timeout of every tracked message a little before it
would expire, so a slow job is not handed to a second worker. release_all() gives everything
back at once (visibility 0) when the worker is forced to stop.
"""

from __future__ import annotations

import logging
import threading

from yolo5.queue import JobsQueue, Message

logger = logging.getLogger(__name__)


class VisibilityKeeper:
    def __init__(self, queue: JobsQueue, visibility_timeout: int) -> None:
        self._queue = queue
        self._timeout = max(visibility_timeout, 10)
        self._interval = max(self._timeout / 3, 1.0)
        self._tracked: dict[str, Message] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="visibility", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def track(self, message: Message) -> None:
        with self._lock:
            self._tracked[message.receipt_handle] = message

    def untrack(self, message: Message) -> None:
        with self._lock:
            self._tracked.pop(message.receipt_handle, None)

    def release(self, message: Message) -> None:
        self.untrack(message)
        self._queue.set_visibility(message, 0)

    def release_all(self) -> int:
        with self._lock:
            messages = list(self._tracked.values())
            self._tracked.clear()
        for message in messages:
            self._queue.set_visibility(message, 0)
        return len(messages)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            with self._lock:
                messages = list(self._tracked.values())
            for message in messages:
                self._queue.set_visibility(message, self._timeout)
