"""The one owner of the worker's in-flight messages: keeps them invisible while they are being
worked on, and ends each one.

The rule: every received message is tracked here from its receive until it ends in exactly one
of release (visibility 0: another worker takes it now), finish with delete (done with), or
finish without delete (left to come back after the visibility timeout, or to move on to the
dead-letter queue). Nothing else deletes, releases or stops tracking a message: the stages
return an Outcome, and the worker passes it to finish(). A message that is never ended is
extended until the worker stops, so an outcome path that skipped this would show up as a
message that never comes back (tests/yolo5/test_processing.py checks every Outcome ends here).

A background thread extends the visibility timeout of every tracked message a little before it
would expire, so a slow job is not handed to a second worker. release_all() gives everything
back at once (visibility 0) when the worker is forced to stop.
"""

from __future__ import annotations

import logging
import threading

from botocore.exceptions import BotoCoreError, ClientError

from common.jsonlog import event
from yolo5.errors import describe, error_code
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

    def _untrack(self, message: Message) -> None:
        with self._lock:
            self._tracked.pop(message.receipt_handle, None)

    def finish(self, message: Message, *, delete: bool) -> None:
        """The job is over on this worker: stop extending it, and delete it if it is done with
        (else it comes back after the visibility timeout)."""
        self._untrack(message)
        if not delete:
            return
        try:
            self._queue.delete(message)
        except (ClientError, BotoCoreError) as exc:
            # Harmless: the item is finished, so a redelivery just notifies again (idempotent).
            logger.warning(
                "delete failed: %s",
                describe(exc),
                extra=event("job.delete_failed", error=error_code(exc)),
            )

    def release(self, message: Message) -> None:
        """Not started here: give it back now (visibility 0) for another worker."""
        self._untrack(message)
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
